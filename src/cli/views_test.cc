#include "cli/views.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mdb::cli {
namespace {

using ::testing::HasSubstr;

ViewOptions Utc(Format format = Format::kTable) {
  // 2026-12-04T12:00:00Z
  return {
      .format = format, .zone = absl::UTCTimeZone(), .now = absl::FromUnixSeconds(1'796'385'600)};
}

TEST(Views, SizesAndAgesForPeople) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(int64_t{1503238554}), "1.4 GiB");
  const absl::Time now = absl::FromUnixSeconds(1'000'000);
  EXPECT_EQ(Age(now, now), "just now");
  EXPECT_EQ(Age(now - absl::Seconds(42), now), "42s ago");
  EXPECT_EQ(Age(now - absl::Minutes(3), now), "3m ago");
  EXPECT_EQ(Age(now - absl::Hours(5), now), "5h ago");
  EXPECT_EQ(Age(now - absl::Hours(49), now), "2d ago");
  EXPECT_EQ(Age(now + absl::Minutes(3), now), "in 3m");
}

// Two engines' pages merged newest first, in a table (golden).
TEST(Views, BackupListTable) {
  const std::string gp =
      R"({"backups":[{"id":"gp-incr","folderId":"f1","sourceClusterId":"gp1",)"
      R"("createdAt":"2026-12-04T09:00:00Z","type":"MANUAL","method":"INCREMENTAL",)"
      R"("size":"1503238554"}]})";
  const std::string rd = R"({"backups":[{"id":"rd-1","folderId":"f1","sourceClusterId":"rd1",)"
                         R"("createdAt":"2026-12-04T11:59:00Z","type":"AUTOMATED"}]})";
  EXPECT_EQ(
      *RenderBackups({{"greenplum", gp}, {"redis", rd}, {"mongodb", "{}"}}, Utc()),
      "ID       ENGINE     CLUSTER  TYPE       METHOD       CREATED                     AGE     "
      "SIZE\n"
      "rd-1     redis      rd1      AUTOMATED  -            2026-12-04 11:59:00 +00:00  1m ago  -\n"
      "gp-incr  greenplum  gp1      MANUAL     INCREMENTAL  2026-12-04 09:00:00 +00:00  3h ago  "
      "1.4 GiB\n");
  EXPECT_EQ(*RenderBackups({{"redis", "{}"}}, Utc()), "no backups\n");
  // JSON: one engine's reply as it came; several merged, each backup with its engine.
  EXPECT_EQ(*RenderBackups({{"redis", rd}}, Utc(Format::kJson)), rd + "\n");
  std::string merged = *RenderBackups({{"greenplum", gp}, {"redis", rd}}, Utc(Format::kJson));
  EXPECT_THAT(merged,
              HasSubstr(R"({"backups":[{"createdAt":"2026-12-04T11:59:00Z","engine":"redis")"));
  EXPECT_THAT(*RenderBackups({{"redis", rd}}, Utc(Format::kYaml)),
              HasSubstr("backups:\n  - createdAt: \"2026-12-04T11:59:00Z\"\n"));
  EXPECT_EQ(RenderBackups({{"redis", "not json"}}, Utc()).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(Views, OneBackupAndAnOperation) {
  EXPECT_EQ(
      *RenderBackup(R"({"id":"gp-1","size":"2048","createdAt":"2026-12-04T11:00:00Z"})", Utc()),
      "createdAt:  2026-12-04 11:00:00 +00:00 (1h ago)\n"
      "id:         gp-1\n"
      "size:       2.0 KiB (2048)\n");
  EXPECT_EQ(
      *RenderOperation(R"({"id":"op1","description":"Create backup of cluster 'rd1'",)"
                       R"("createdAt":"2026-12-04T11:58:00Z","createdBy":"writer","done":true,)"
                       R"("error":{"code":14,"message":"no reachable master"},)"
                       R"("metadata":{"clusterId":"rd1"}})",
                       Utc()),
      "id:           op1\n"
      "description:  Create backup of cluster 'rd1'\n"
      "status:       FAILED\n"
      "created:      2026-12-04 11:58:00 +00:00\n"
      "modified:     -\n"
      "created by:   writer\n"
      "error:        no reachable master (code 14)\n"
      "clusterId:    rd1\n");
}

TEST(Views, RepliesOfAnotherShapeAreDataLossNotACrash) {
  EXPECT_EQ(RenderOperation("[]", Utc()).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(RenderOperation(R"({"done":null})", Utc()).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(RenderClusters(
                {{"redis", R"({"clusters":[{"id":"a","labels":{"restore_target":true}}]})"}}, Utc())
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(RenderBackups({{"redis", "null"}}, Utc()).status().code(), absl::StatusCode::kDataLoss);
  // Strings that YAML would read as a bool or a number stay strings.
  EXPECT_THAT(*RenderBackup(R"({"id":"true","folderId":"0123"})", Utc(Format::kYaml)),
              HasSubstr("id: \"true\""));
  EXPECT_EQ(ProgressLine(-5, -1, 7, 1.0), "0 B so far");
}

TEST(Views, ClusterStatusWithItsSchedule) {
  const std::string cluster =
      R"({"id":"rd1","folderId":"f1","name":"rd1","status":"RUNNING",)"
      R"("config":{"backupWindowStart":{"hours":22},"backupRetainPeriodDays":"7"}})";
  const std::string page =
      R"({"backups":[{"id":"rd-2","createdAt":"2026-12-04T09:00:00Z","type":"MANUAL"},)"
      R"({"id":"rd-1","createdAt":"2026-12-03T22:05:00Z","type":"AUTOMATED"}]})";
  const std::string ops =
      R"({"operations":[{"id":"op3","description":"Create backup","createdAt":"2026-12-04T11:58:00Z",)"
      R"("metadata":{"bytesDone":"256","bytesTotal":"1024"}},)"
      R"({"id":"op2","description":"Create backup","done":true,"modifiedAt":"2026-12-04T09:00:00Z",)"
      R"("error":{"code":14,"message":"host\n\tdown\u001b[2J\n"}},)"
      R"({"id":"op1","description":"Delete backup","done":true,"modifiedAt":"2026-12-04T08:00:00Z"},)"
      R"({"id":"op0","description":"Create backup","done":true,"modifiedAt":"2026-12-04T07:00:00Z"},)"
      R"({"id":"op-1","done":true,"modifiedAt":"2026-12-04T06:00:00Z"}]})";
  EXPECT_EQ(*RenderClusterStatus("redis", cluster, {page}, ops, Utc()),
            "cluster:          rd1 (redis)\n"
            "name:             rd1\n"
            "folder:           f1\n"
            "role:             protected\n"
            "backups:          2\n"
            "schedule:         AUTOMATED daily at 22:00 UTC (+ up to 10 min), kept 7 days\n"
            "next AUTOMATED:   2026-12-04 22:00:00 +00:00 (in 10h)\n"
            "last backup:      2026-12-04 09:00:00 +00:00 (3h ago)  rd-2\n"
            "last AUTOMATED:   2026-12-03 22:05:00 +00:00 (13h ago)  rd-1\n"
            "last MANUAL:      2026-12-04 09:00:00 +00:00 (3h ago)  rd-2\n"
            "restorable:       2026-12-03 22:05:00 +00:00 to 2026-12-04 09:00:00 +00:00\n"
            "running:          Create backup  op3  [#####               ]  25%  256 B of 1.0 KiB  "
            "since 2026-12-04 11:58:00 +00:00 (2m ago)\n"
            "last operations:  2026-12-04 09:00:00 +00:00 (3h ago)  Create backup  op2  FAILED: "
            "host down [2J\n"
            "                  2026-12-04 08:00:00 +00:00 (4h ago)  Delete backup  op1  done\n"
            "                  2026-12-04 07:00:00 +00:00 (5h ago)  Create backup  op0  done\n");
  // JSON carries the operations as the server sent them.
  EXPECT_THAT(*RenderClusterStatus("redis", cluster, {page}, ops, Utc(Format::kJson)),
              HasSubstr(R"("operations":[{"createdAt")"));
  EXPECT_FALSE(RenderClusterStatus("redis", cluster, {page}, R"({"operations":[1]})", Utc()).ok());
}

TEST(Views, ProgressWithRateAndTimeLeft) {
  EXPECT_EQ(ProgressLine(512 << 20, int64_t{2} << 30, 0, 4.0),
            "[#####               ]  25%  512.0 MiB of 2.0 GiB  128.0 MiB/s  12s left");
  EXPECT_EQ(ProgressLine(100, 0, 100, 1.0), "100 B so far");
}

}  // namespace
}  // namespace mdb::cli
