#include "ops/drill_schedule.h"

#include <gtest/gtest.h>

#include "common/time_util.h"

namespace mdb::ops {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

catalog::BackupRecord Backup(const std::string& id, absl::Duration at,
                             std::optional<absl::Duration> drilled = std::nullopt) {
  catalog::BackupRecord b;
  b.set_id(id);
  *b.mutable_created_at() = common::ToProto(kT0 + at);
  if (drilled) *b.mutable_verification()->mutable_verified_at() = common::ToProto(kT0 + *drilled);
  return b;
}

TEST(DueDrill, EveryNthBackupCountsThoseSinceTheNewestDrill) {
  common::DrillConfig every2{.every_backups = 2};
  // Newest first. b1 was drilled after b2 completed: only b3 came since.
  std::vector<catalog::BackupRecord> backups = {
      Backup("b3", absl::Hours(3)), Backup("b2", absl::Hours(2)),
      Backup("b1", absl::Hours(1), absl::Hours(2) + absl::Minutes(5))};
  EXPECT_FALSE(DueDrill(every2, backups, kT0 + absl::Hours(4)));
  backups.insert(backups.begin(), Backup("b4", absl::Hours(4)));
  auto due = DueDrill(every2, backups, kT0 + absl::Hours(5));
  ASSERT_TRUE(due);
  EXPECT_EQ(due->backup_id, "b4");
  EXPECT_FALSE(due->oldest);
  // Never drilled: every backup counts.
  EXPECT_TRUE(DueDrill(every2, {Backup("a", absl::Hours(2)), Backup("b", absl::Hours(1))},
                       kT0 + absl::Hours(3)));
  EXPECT_FALSE(DueDrill(every2, {Backup("a", absl::Hours(2))}, kT0 + absl::Hours(3)));
}

TEST(DueDrill, ByAgeAndNeverWithoutBackupsOrATrigger) {
  common::DrillConfig weekly{.every_days = 7};
  std::vector<catalog::BackupRecord> backups = {Backup("b2", absl::Hours(30)),
                                                Backup("b1", absl::Hours(1), absl::Hours(2))};
  EXPECT_FALSE(DueDrill(weekly, backups, kT0 + absl::Hours(2 + 24 * 7) - absl::Seconds(1)));
  EXPECT_TRUE(DueDrill(weekly, backups, kT0 + absl::Hours(2 + 24 * 7)));
  EXPECT_FALSE(DueDrill(weekly, {}, kT0 + absl::Hours(24 * 365)));
  EXPECT_FALSE(DueDrill(common::DrillConfig{}, backups, kT0 + absl::Hours(24 * 365)));
}

TEST(DueDrill, EveryNthDrillTakesTheOldestBackup) {
  common::DrillConfig drill{.every_backups = 1, .oldest_every = 3};
  // Two drills so far: the third takes the oldest.
  std::vector<catalog::BackupRecord> backups = {
      Backup("b4", absl::Hours(10)), Backup("b3", absl::Hours(3), absl::Hours(4)),
      Backup("b2", absl::Hours(2)), Backup("b1", absl::Hours(1), absl::Hours(1))};
  auto due = DueDrill(drill, backups, kT0 + absl::Hours(11));
  ASSERT_TRUE(due);
  EXPECT_EQ(due->backup_id, "b1");
  EXPECT_TRUE(due->oldest);
  drill.oldest_every = 0;
  EXPECT_EQ(DueDrill(drill, backups, kT0 + absl::Hours(11))->backup_id, "b4");
}

}  // namespace
}  // namespace mdb::ops
