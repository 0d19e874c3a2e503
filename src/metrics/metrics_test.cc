#include "metrics/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mdb::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Metrics, ReportsWhatHappenedInTheTextFormat) {
  Metrics m;
  m.ApiCall("yandex.cloud.mdb.redis.v1.BackupService/Get", absl::StatusCode::kOk, 0.002);
  m.ApiCall("yandex.cloud.mdb.redis.v1.BackupService/Get", absl::StatusCode::kOk, 0.002);
  m.ApiCall("yandex.cloud.mdb.redis.v1.BackupService/Get", absl::StatusCode::kNotFound, 0.7);
  m.BackupSucceeded({.engine = "redis",
                     .cluster = "rd1",
                     .method = "BASE",
                     .started = absl::FromUnixSeconds(1000),
                     .completed = absl::FromUnixSeconds(1090),
                     .logical_bytes = 5000,
                     .stored_bytes = 2000,
                     .added_bytes = 300});
  m.BackupFailed("redis", "rd1", absl::StatusCode::kUnavailable);
  m.JournalPiece("greenplum", "gp1", "seg0", 1, absl::FromUnixSeconds(2000), 1 << 20);
  m.ClusterDeclared("redis", "rd1");
  std::string text = m.Text();
  EXPECT_THAT(text, HasSubstr("mdb_cluster_declared{cluster=\"rd1\",engine=\"redis\"} 1"));
  EXPECT_THAT(text, HasSubstr("mdb_build_info{version=\""));
  EXPECT_THAT(text, HasSubstr("mdb_api_requests_total{code=\"OK\",rpc=\"yandex.cloud.mdb.redis.v1."
                              "BackupService/Get\"} 2"));
  EXPECT_THAT(text, HasSubstr("mdb_api_requests_total{code=\"NOT_FOUND\""));
  EXPECT_THAT(text, HasSubstr("mdb_api_request_duration_seconds_bucket{rpc=\"yandex.cloud.mdb."
                              "redis.v1.BackupService/Get\",le=\"0.0025\"} 2"));
  EXPECT_THAT(text, HasSubstr("mdb_backup_last_success_timestamp_seconds{cluster=\"rd1\","
                              "engine=\"redis\",method=\"BASE\"} 1090"));
  EXPECT_THAT(text,
              HasSubstr("mdb_backup_last_duration_seconds{cluster=\"rd1\",engine=\"redis\"} 90"));
  EXPECT_THAT(text, HasSubstr("mdb_backup_last_size_bytes{cluster=\"rd1\",engine=\"redis\","
                              "kind=\"added\"} 300"));
  EXPECT_THAT(text, HasSubstr("mdb_backups_total{cluster=\"rd1\",code=\"UNAVAILABLE\","
                              "engine=\"redis\"} 1"));
  EXPECT_THAT(text, HasSubstr("mdb_restorable_until_timestamp_seconds{cluster=\"gp1\","
                              "engine=\"greenplum\"} 2000"));
  EXPECT_THAT(text, HasSubstr("mdb_journal_archived_bytes_total{cluster=\"gp1\","
                              "engine=\"greenplum\"} 1048576"));
  // A removed cluster's series go; the others stay.
  m.ForgetCluster("rd1");
  text = m.Text();
  EXPECT_THAT(text, Not(HasSubstr("cluster=\"rd1\"")));
  EXPECT_THAT(text, HasSubstr("cluster=\"gp1\""));
  // ...and come back when it reports again.
  m.BackupFailed("redis", "rd1", absl::StatusCode::kCancelled);
  EXPECT_THAT(m.Text(), HasSubstr("mdb_backups_total{cluster=\"rd1\",code=\"CANCELLED\""));
  // Rendered per-cluster text is reused only until the next event.
  m.BackupFailed("redis", "rd1", absl::StatusCode::kCancelled);
  EXPECT_THAT(m.Text(), HasSubstr("mdb_backups_total{cluster=\"rd1\",code=\"CANCELLED\","
                                  "engine=\"redis\"} 2"));
}

// Each cluster's text is rendered apart and joined per family: one header per family (as the
// text format requires), every cluster's samples under it, and an event re-renders its cluster
// only while the others' text stays.
TEST(Metrics, ClustersJoinUnderOneHeaderPerFamily) {
  Metrics m;
  m.BackupFailed("redis", "rd1", absl::StatusCode::kUnavailable);
  m.BackupFailed("greenplum", "gp1", absl::StatusCode::kUnavailable);
  std::string text = m.Text();
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(text, "# TYPE mdb_backups_total counter\n"), 1u);
  const size_t header = text.find("# TYPE mdb_backups_total");
  const size_t gp = text.find("mdb_backups_total{cluster=\"gp1\"");
  const size_t rd = text.find("mdb_backups_total{cluster=\"rd1\"");
  EXPECT_LT(header, gp);
  EXPECT_EQ(text.find('#', header + 1), text.find("# HELP", header + 1));
  EXPECT_LT(gp, rd);  // clusters by id, both under the one header
  EXPECT_LT(rd, text.find("# HELP", header + 1));
  m.BackupFailed("redis", "rd1", absl::StatusCode::kUnavailable);
  text = m.Text();
  EXPECT_THAT(text, HasSubstr("mdb_backups_total{cluster=\"rd1\",code=\"UNAVAILABLE\","
                              "engine=\"redis\"} 2"));
  EXPECT_THAT(text, HasSubstr("mdb_backups_total{cluster=\"gp1\",code=\"UNAVAILABLE\","
                              "engine=\"greenplum\"} 1"));
  EXPECT_EQ(count(text, "# TYPE mdb_backups_total counter\n"), 1u);
  m.ForgetCluster("gp1");
  m.ForgetCluster("rd1");
  EXPECT_THAT(m.Text(), Not(HasSubstr("mdb_backups_total")));
}

TEST(Metrics, TheJournalReachesThePointEveryShardReached) {
  Metrics m;
  const std::string restorable = "mdb_restorable_until_timestamp_seconds{cluster=\"gp1\"";
  m.JournalPiece("greenplum", "gp1", "seg0", 2, absl::FromUnixSeconds(5000), 1);
  EXPECT_THAT(m.Text(), Not(HasSubstr(restorable)));  // seg1 has archived nothing yet
  m.JournalPiece("greenplum", "gp1", "seg1", 2, absl::FromUnixSeconds(4000), 1);
  EXPECT_THAT(m.Text(), HasSubstr(restorable + ",engine=\"greenplum\"} 4000"));
  m.JournalPiece("greenplum", "gp1", "seg0", 2, absl::FromUnixSeconds(6000), 1);  // seg1 stalls
  EXPECT_THAT(m.Text(), HasSubstr(restorable + ",engine=\"greenplum\"} 4000"));
  m.JournalPiece("greenplum", "gp1", "seg1", 2, absl::FromUnixSeconds(7000), 1);
  EXPECT_THAT(m.Text(), HasSubstr(restorable + ",engine=\"greenplum\"} 6000"));
}

TEST(Metrics, OnlyClustersOfTheConfigGetSeries) {
  Metrics m;
  m.KnownClusters({"gp1"});
  m.BackupFailed("redis", "rd9", absl::StatusCode::kUnavailable);  // removed at a reload
  m.BackupFailed("greenplum", "gp1", absl::StatusCode::kUnavailable);
  EXPECT_THAT(m.Text(), Not(HasSubstr("rd9")));
  EXPECT_THAT(m.Text(), HasSubstr("cluster=\"gp1\""));
}

TEST(Metrics, TheRestorableWindowNeverMovesBack) {
  Metrics m;
  m.JournalPiece("greenplum", "gp1", "seg0", 1, absl::FromUnixSeconds(5000), 1);
  m.BackupSucceeded({.engine = "greenplum",
                     .cluster = "gp1",
                     .method = "INCREMENTAL",
                     .started = absl::FromUnixSeconds(3000),
                     .completed = absl::FromUnixSeconds(4000)});
  EXPECT_THAT(m.Text(), HasSubstr("mdb_restorable_until_timestamp_seconds{cluster=\"gp1\","
                                  "engine=\"greenplum\"} 5000"));
}

}  // namespace
}  // namespace mdb::metrics
