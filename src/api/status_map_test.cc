#include "api/status_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace mdb::api {
namespace {

using ::testing::HasSubstr;

std::string JsonMessage(const absl::Status& st) {
  return nlohmann::json::parse(StatusToJson(st)).at("message").get<std::string>();  // strict UTF-8
}

TEST(StatusMap, MessagesAreValidUtf8WithInvalidBytesShown) {
  // Overlong forms of '/', a lone lead byte, a surrogate, a byte past U+10FFFF: echoed from a
  // request, they once reached the JSON body raw (or vanished, or ate the next character).
  absl::Status st =
      absl::NotFoundError("backup 'x\xc0\xafy \xe0\x80\xaf z\xc2y \xed\xa0\x80 \xf5' é");
  std::string m = JsonMessage(st);
  EXPECT_EQ(m, "backup 'x\\xC0\\xAFy \\xE0\\x80\\xAF z\\xC2y \\xED\\xA0\\x80 \\xF5' é");
  EXPECT_EQ(ToGrpcStatus(st).error_message(), m);
  EXPECT_EQ(ToGrpcStatus(st).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(StatusMap, LongMessagesAreCutAtACharacter) {
  std::string long_message = std::string(2047, 'a') + "é" + std::string(5000, 'b');
  std::string m = JsonMessage(absl::InvalidArgumentError(long_message));
  EXPECT_LT(m.size(), 2100u);
  EXPECT_THAT(m, HasSubstr("é... (cut)"));
  EXPECT_EQ(JsonMessage(absl::InvalidArgumentError("short")), "short");
}

}  // namespace
}  // namespace mdb::api
