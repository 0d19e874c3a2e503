#include "catalog/page_token.h"

#include <gtest/gtest.h>

namespace mdb::catalog {
namespace {

TEST(PageToken, RoundTripsWithinTheApiLimit) {
  PageTokenCodec codec(std::string(32, 'k'));
  PageCursor c{.created_ns = 1'764'000'000'123'456'789, .seq = 42};
  std::string token = codec.Encode(c, "3/folder/f1");
  EXPECT_LE(token.size(), 100u);
  auto back = codec.Decode(token, "3/folder/f1");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->created_ns, c.created_ns);
  EXPECT_EQ(back->seq, 42);
}

TEST(PageToken, RejectsEveryAlteredCharacter) {
  PageTokenCodec codec(std::string(32, 'k'));
  std::string token = codec.Encode({.created_ns = 5, .seq = 7}, "s");
  for (size_t i = 0; i < token.size(); ++i) {
    std::string bad = token;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    auto st = codec.Decode(bad, "s").status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << "position " << i;
  }
}

TEST(PageToken, RejectsOtherWalksKeysAndGarbage) {
  PageTokenCodec codec(std::string(32, 'k'));
  std::string token = codec.Encode({.created_ns = 5, .seq = 7}, "3/folder/f1");
  EXPECT_FALSE(codec.Decode(token, "3/folder/f2").ok());
  EXPECT_FALSE(codec.Decode(token, "1/folder/f1").ok());
  EXPECT_FALSE(PageTokenCodec(std::string(32, 'x')).Decode(token, "3/folder/f1").ok());
  EXPECT_FALSE(codec.Decode("not a token!", "s").ok());
  EXPECT_FALSE(codec.Decode(token.substr(0, token.size() - 1), "3/folder/f1").ok());
  EXPECT_NE(codec.Decode("", "s").status().message().find("first page"), std::string::npos);
}

}  // namespace
}  // namespace mdb::catalog
