#include "engine/mongodb/bson_stream.h"

#include <gtest/gtest.h>

#include "engine/mongodb/mongo_conn.h"

namespace mdb::engine::mongodb {
namespace {

std::string Doc(const std::string& json) { return std::string(Bson::FromJson(json)->bytes()); }

// Hands out at most `step` bytes per Read, to cut documents at every possible place.
class DripSource final : public io::ByteSource {
 public:
  DripSource(std::string data, size_t step) : data_(std::move(data)), step_(step) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    size_t k = std::min({n, step_, data_.size() - pos_});
    memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  std::string data_;
  size_t step_, pos_ = 0;
};

TEST(DocDigest, OrderIndependentButContentSensitive) {
  std::string a = Doc(R"({"_id": 1, "s": "x"})"), b = Doc(R"({"_id": 2, "s": "y"})");
  DocDigest ab, ba, aa;
  ab.Add(a);
  ab.Add(b);
  ba.Add(b);
  ba.Add(a);
  aa.Add(a);
  aa.Add(a);
  EXPECT_EQ(ab, ba);
  EXPECT_EQ(ab.count, 2u);
  EXPECT_EQ(ab.bytes, a.size() + b.size());
  EXPECT_NE(ab.hash, aa.hash);  // a duplicate instead of b is noticed
  DocDigest changed;
  changed.Add(a);
  changed.Add(Doc(R"({"_id": 2, "s": "z"})"));
  EXPECT_NE(ab.hash, changed.hash);
}

TEST(BsonReader, SplitsDocumentsWhateverTheReadSizes) {
  std::vector<std::string> docs;
  std::string all;
  for (int i = 0; i < 50; ++i) {
    docs.push_back(
        Doc("{\"_id\": " + std::to_string(i) + ", \"pad\": \"" + std::string(i * 37, 'p') + "\"}"));
    all += docs.back();
  }
  for (size_t step : {1, 3, 7, 64, 4096, 1 << 20}) {
    DripSource src(all, step);
    BsonReader reader(&src);
    for (const auto& want : docs) {
      auto got = reader.Next();
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_TRUE(got->has_value());
      EXPECT_EQ(**got, want) << "step " << step;
    }
    auto end = reader.Next();
    ASSERT_TRUE(end.ok());
    EXPECT_FALSE(end->has_value());
  }
}

TEST(BsonReader, TruncatedOrImpossibleStreamsAreDataLoss) {
  std::string doc = Doc(R"({"_id": 1})");
  for (size_t cut : {1ul, 3ul, 4ul, doc.size() - 1}) {
    io::StringSource src(doc + doc.substr(0, cut));
    BsonReader reader(&src);
    ASSERT_TRUE(reader.Next().ok());
    auto bad = reader.Next();
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << "cut " << cut;
  }
  std::string huge("\xff\xff\xff\x7f", 4);
  io::StringSource src(huge + std::string(16, 'x'));
  BsonReader reader(&src);
  EXPECT_EQ(reader.Next().status().code(), absl::StatusCode::kDataLoss);
}

TEST(Bson, FromBytesRejectsGarbage) {
  EXPECT_FALSE(Bson::FromBytes("nonsense").ok());
  std::string doc = Doc(R"({"a": {"b": [1, 2]}})");
  auto round = Bson::FromBytes(doc);
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->bytes(), doc);
}

}  // namespace
}  // namespace mdb::engine::mongodb
