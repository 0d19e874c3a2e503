#include "common/log.h"

#include <gtest/gtest.h>

#include "absl/strings/cord.h"
#include "common/status.h"

namespace mdb::common {
namespace {

TEST(Log, JsonLinesAreValidJsonWhateverTheMessageHolds) {
  // Quotes, a backslash, a newline, valid UTF-8 and a byte a source database may send that is not.
  EXPECT_EQ(JsonLogLine(1'764'000'000'123'456, LogLevel::kWarning, "greenplum",
                        "shard \"s\\1\"\nh\xc3\xa9 \xff\xc3"),
            "{\"time\":\"2025-11-24T16:00:00.123456Z\",\"level\":\"warning\","
            "\"component\":\"greenplum\",\"message\":\"shard \\\"s\\\\1\\\"\\u000ah\xc3\xa9 "
            "\\u00ff\\u00c3\"}");
  // Surrogates and overlong forms are not UTF-8 either.
  EXPECT_EQ(JsonLogLine(0, LogLevel::kInfo, "x", "\xed\xa0\x80\xe0\x80\x80"),
            "{\"time\":\"1970-01-01T00:00:00.000000Z\",\"level\":\"info\",\"component\":\"x\","
            "\"message\":\"\\u00ed\\u00a0\\u0080\\u00e0\\u0080\\u0080\"}");
}

TEST(Log, JsonLinesNameTheClusterAndOperation) {
  EXPECT_EQ(
      JsonLogLine(0, LogLevel::kInfo, "operations", "started",
                  {.cluster = "pg\"1", .operation = "op1"}),
      "{\"time\":\"1970-01-01T00:00:00.000000Z\",\"level\":\"info\",\"component\":"
      "\"operations\",\"cluster\":\"pg\\\"1\",\"operation\":\"op1\",\"message\":\"started\"}");
  EXPECT_EQ(JsonLogLine(0, LogLevel::kInfo, "x", "m", {.operation = "op1"}),
            "{\"time\":\"1970-01-01T00:00:00.000000Z\",\"level\":\"info\",\"component\":\"x\","
            "\"operation\":\"op1\",\"message\":\"m\"}");
}

TEST(Log, LevelsByName) {
  LogLevel l;
  EXPECT_TRUE(ParseLogLevel("warning", &l));
  EXPECT_EQ(l, LogLevel::kWarning);
  EXPECT_FALSE(ParseLogLevel("WARN", &l));
}

TEST(Status, ContextKeepsTheCodeAndPayloads) {
  absl::Status st = absl::UnavailableError("connection refused");
  st.SetPayload("mdb/held-by", absl::Cord("gc"));
  absl::Status with = WithContext(st, "shard 's1' (h:1)");
  EXPECT_EQ(with.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(with.message(), "shard 's1' (h:1): connection refused");
  EXPECT_EQ(with.GetPayload("mdb/held-by"), absl::Cord("gc"));
  EXPECT_TRUE(WithContext(absl::OkStatus(), "x").ok());
}

}  // namespace
}  // namespace mdb::common
