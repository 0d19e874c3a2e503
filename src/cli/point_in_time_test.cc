#include "cli/point_in_time.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/all.h"

namespace mdb::cli {
namespace {

using ::testing::HasSubstr;

const common::EngineInfo& Row(const char* name) {
  const auto& engines = engine::BuiltInEngines().table();
  return *engines.Find(*engines.Parse(name));
}

TEST(PointInTime, ParsesRfc3339AndLocalTimesWithTheirZone) {
  const absl::Time want = absl::FromUnixSeconds(1'796'360'400);  // 2026-12-04T05:00:00Z
  EXPECT_EQ(*ParsePointInTime("2026-12-04T05:00:00Z"), want);
  EXPECT_EQ(*ParsePointInTime("2026-12-04T08:00:00+03:00"), want);
  EXPECT_EQ(*ParsePointInTime("2026-12-04T05:00:00.25Z"), want + absl::Milliseconds(250));
  EXPECT_EQ(*ParsePointInTime("2026-12-04 08:00:00 +03:00"), want);
  EXPECT_EQ(*ParsePointInTime("2026-12-04 00:00:00 America/New_York"), want);
  EXPECT_EQ(*ParsePointInTime("2026-12-04 05:00:00 UTC"), want);
  for (const char* bad : {"2026-12-04 05:00:00", "yesterday", "2026-12-04T05:00:00",
                          "2026-12-04 05:00:00 Mars/Olympus", ""}) {
    auto t = ParsePointInTime(bad);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("RFC 3339")) << bad;
  }
}

TEST(PointInTime, RefusesLocalTimesThatAreAmbiguousOrMisleading) {
  // Europe/Berlin: 02:30 happens twice on 2026-10-25 and not at all on 2026-03-29.
  EXPECT_THAT(ParsePointInTime("2026-10-25 02:30:00 Europe/Berlin").status().message(),
              HasSubstr("happens twice"));
  EXPECT_THAT(ParsePointInTime("2026-03-29 02:30:00 Europe/Berlin").status().message(),
              HasSubstr("does not exist"));
  // A fraction survives the zone conversion; summer time is applied.
  EXPECT_EQ(*ParsePointInTime("2026-07-01 12:00:00.5 Europe/Berlin"),
            *ParsePointInTime("2026-07-01T10:00:00.5Z"));
  // CET is CEST in July; Etc/GMT+3 is three hours behind UTC: both refused.
  for (const char* bad : {"2026-07-01 08:00:00 CET", "2026-07-01 08:00:00 Etc/GMT+3",
                          "infinite-future", "1969-12-31T23:59:59Z", "2300-01-01T00:00:00Z"}) {
    EXPECT_EQ(ParsePointInTime(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PointInTime, EachEngineGetsItsOwnRequestField) {
  const absl::Time t = absl::FromUnixSeconds(1'796'360'400);
  EXPECT_EQ(*PointInTimeMember(Row("greenplum"), t), R"("time":"2026-12-04T05:00:00Z")");
  EXPECT_EQ(*PointInTimeMember(Row("greenplum"), t + absl::Nanoseconds(5)),
            R"("time":"2026-12-04T05:00:00.000000005Z")");
  EXPECT_EQ(*PointInTimeMember(Row("mongodb"), t),
            R"("recoveryTargetSpec":{"timestamp":"1796360400"})");
  // MongoDB takes whole seconds: a fraction is refused, not rounded to another moment.
  EXPECT_EQ(PointInTimeMember(Row("mongodb"), t + absl::Milliseconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto redis = PointInTimeMember(Row("redis"), t);
  EXPECT_EQ(redis.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(redis.status().message(), HasSubstr("own consistent point"));
}

TEST(RestoreScope, OnlyAnEngineWhoseRequestHasOptionsGetsThem) {
  RestoreScope scope{.indices = {"logs-*", "-logs-old"},
                     .rename_pattern = "(.+)",
                     .rename_replacement = "r-$1",
                     .global_state = true};
  auto member = RestoreOptionsMember(Row("opensearch"), scope);
  ASSERT_TRUE(member.ok()) << member.status();
  const std::string want =
      R"x("restoreOptions":{"indices":["logs-*","-logs-old"],"renamePattern":"(.+)",)x"
      R"x("renameReplacement":"r-$1","includeGlobalState":true})x";
  EXPECT_EQ(*member, want);
  auto redis = RestoreOptionsMember(Row("redis"), scope);
  EXPECT_EQ(redis.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(redis.status().message(), HasSubstr("restored whole"));
}

TEST(PointInTime, LatestIsTheWindowsEndExactly) {
  auto t =
      LatestOfWindow(R"({"clusterId":"gp1","pointInTime":true,"earliest":"2026-12-04T01:00:00Z",)"
                     R"("latest":"2026-12-04T02:03:04.123456789Z","latestReason":"x"})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, absl::FromUnixNanos(1796349784123456789));
  EXPECT_EQ(LatestOfWindow(R"({"clusterId":"r1","pointInTime":false})").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LatestOfWindow(R"({"clusterId":"gp1","pointInTime":true})").status().code(),
            absl::StatusCode::kFailedPrecondition);  // no backup yet
  EXPECT_EQ(LatestOfWindow("<html>").status().code(), absl::StatusCode::kDataLoss);
}

TEST(PointInTime, PicksTheNewestBackupCompletedByThen) {
  const std::string page = R"({"backups":[
      {"id":"b3","createdAt":"2026-12-04T06:00:00Z"},
      {"id":"b2","createdAt":"2026-12-04T05:00:00Z"},
      {"id":"b1","createdAt":"2026-12-04T04:00:00Z"}],"nextPageToken":"tok"})";
  std::string token;
  auto got =
      NewestBackupBefore(Row("greenplum"), page, *ParsePointInTime("2026-12-04T05:30:00Z"), &token);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "b2");
  EXPECT_EQ(token, "tok");
  // Completed exactly at the time counts; before all of this page: look at the next one.
  EXPECT_EQ(**NewestBackupBefore(Row("greenplum"), page, *ParsePointInTime("2026-12-04T05:00:00Z"),
                                 &token),
            "b2");
  EXPECT_FALSE(
      NewestBackupBefore(Row("greenplum"), page, *ParsePointInTime("2026-12-04T03:00:00Z"), &token)
          ->has_value());
  EXPECT_EQ(NewestBackupBefore(Row("greenplum"), "not json", absl::Now(), &token).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mdb::cli
