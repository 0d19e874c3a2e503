// What a restore (or a drill) reads stays while it reads: a delete of its backup is refused, and
// retention leaves the backup to its next pass. Before, either removed the backup midway and the
// restore failed with the target half-written.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ops/jobs.h"
#include "ops/jobs_test_fixture.h"

namespace mdb::ops {
namespace {

using jobs_fakes::JobsTest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST_F(JobsTest, ABackupBeingRestoredIsNeitherDeletedNorExpired) {
  ASSERT_TRUE(Backup("b1", catalog::BackupRecord::AUTOMATED).ok());
  ASSERT_TRUE(Backup("b2", catalog::BackupRecord::AUTOMATED).ok());
  auto b1 = catalog_->GetBackup("b1");
  ASSERT_TRUE(b1.ok()) << b1.status();
  absl::Status restored;
  std::thread restore = StartHeldRestore(*b1, &restored);
  absl::Status st = jobs_->Delete("b1");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_THAT(st.message(),
              HasSubstr("backup 'b1' is being restored (or drilled) by this instance"));
  const absl::Time month_later = absl::Now() + absl::Hours(24 * 30);
  auto expired = jobs_->ApplyRetention(cluster_, month_later);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_TRUE(expired->empty());  // b1 is expired, and read: left to the next pass
  fake_.hold = false;
  restore.join();
  ASSERT_TRUE(restored.ok()) << restored;
  EXPECT_EQ(fake_.restored, fake_.streams);
  expired = jobs_->ApplyRetention(cluster_, month_later);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_THAT(*expired, ElementsAre("b1"));
}

// The same across instances, or any process sharing the repository: a restore here keeps a
// delete on another instance, and that instance's retention, from the backup it reads (through
// the repository's marks: the other instance knows nothing of this one's restores). Before, only
// restores of the same process counted, and the other instance deleted the backup mid-restore.
TEST_F(JobsTest, ABackupBeingRestoredOnAnotherInstanceIsNeitherDeletedNorExpired) {
  ASSERT_TRUE(Backup("b1", catalog::BackupRecord::AUTOMATED).ok());
  ASSERT_TRUE(Backup("b2", catalog::BackupRecord::AUTOMATED).ok());
  auto b1 = catalog_->GetBackup("b1");
  ASSERT_TRUE(b1.ok()) << b1.status();
  auto repo = repo::Repository::Open(storage_.get(), {});
  ASSERT_TRUE(repo.ok()) << repo.status();
  Jobs other(catalog_.get(), repo->get(), *engines_);
  absl::Status restored;
  std::thread restore = StartHeldRestore(*b1, &restored);
  absl::Status st = other.Delete("b1");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  // The refusal names the restoring process, and when its mark lapses should it be gone.
  EXPECT_THAT(st.message(),
              HasSubstr(absl::StrCat("backup 'b1' is being restored (or drilled) by pid ", getpid(),
                                     " on ")));
  EXPECT_THAT(st.message(), HasSubstr("; should that process be gone, it lapses at "));
  const absl::Time month_later = absl::Now() + absl::Hours(24 * 30);
  auto expired = other.ApplyRetention(cluster_, month_later);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_TRUE(expired->empty());
  fake_.hold = false;
  restore.join();
  ASSERT_TRUE(restored.ok()) << restored;
  EXPECT_EQ(fake_.restored, fake_.streams);
  expired = other.ApplyRetention(cluster_, month_later);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_THAT(*expired, ElementsAre("b1"));
}

// An INCREMENTAL backup's restore marks its whole chain: its parent is not deleted meanwhile.
TEST_F(JobsTest, ARestoreMarksItsWholeChain) {
  fake_.incremental = true;
  ASSERT_TRUE(Backup("base").ok());
  auto inc = Backup("inc");
  ASSERT_TRUE(inc.ok()) << inc.status();
  ASSERT_EQ(inc->parent_id(), "base");
  absl::Status restored;
  std::thread restore = StartHeldRestore(*inc, &restored);
  absl::Status st = jobs_->Delete("base");
  EXPECT_THAT(st.message(), HasSubstr("backup 'base' is being restored")) << st;
  fake_.hold = false;
  restore.join();
  EXPECT_TRUE(restored.ok()) << restored;
}

// Catalog rows edited by hand into a loop (the BASE naming its INCREMENTAL as parent): the chain
// walk ends where it comes back, and the restore follows the manifests' chain.
TEST_F(JobsTest, ARestoreOfRowsThatLoopEnds) {
  fake_.incremental = true;
  ASSERT_TRUE(Backup("base").ok());
  auto inc = Backup("inc");
  ASSERT_TRUE(inc.ok()) << inc.status();
  auto base = catalog_->GetBackup("base");
  ASSERT_TRUE(base.ok()) << base.status();
  base->set_parent_id("inc");
  ASSERT_TRUE(catalog_->PutBackup(*base).ok());
  absl::Status restored =
      jobs_->Restore(*inc, cluster_, {.cancelled = cancelled_, .progress = progress_});
  EXPECT_TRUE(restored.ok()) << restored;
  EXPECT_EQ(fake_.restored, fake_.streams);
}

}  // namespace
}  // namespace mdb::ops
