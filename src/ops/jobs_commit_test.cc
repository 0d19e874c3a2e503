// A backup committed to the repository whose catalog record fails: asked again, and when the
// catalog stays away, an error that says where the backup is.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "catalog/forwarding_catalog.h"
#include "ops/jobs.h"
#include "ops/jobs_test_fixture.h"

namespace mdb::ops {
namespace {

using jobs_fakes::JobsTest;
using ::testing::HasSubstr;

// Refuses the first `refusals` records of a backup, as a catalog away for a moment does.
class RefusingCatalog final : public catalog::ForwardingCatalog {
 public:
  RefusingCatalog(catalog::Catalog* real, int refusals)
      : ForwardingCatalog(real), refusals_(refusals) {}
  absl::Status PutBackup(const catalog::BackupRecord& b) override {
    ++calls;
    if (refusals_-- > 0) return absl::UnavailableError("database is locked");
    return ForwardingCatalog::PutBackup(b);
  }
  std::atomic<int> calls{0};

 private:
  std::atomic<int> refusals_;
};

TEST_F(JobsTest, ACommittedBackupsRecordIsAskedForAgain) {
  RefusingCatalog once(catalog_.get(), 1);
  Jobs jobs(&once, repo_.get(), *engines_);
  auto rec = jobs.Backup(cluster_, "b1", catalog::BackupRecord::MANUAL,
                         {.cancelled = cancelled_, .progress = progress_});
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(once.calls, 2);
  EXPECT_TRUE(catalog_->GetBackup("b1").ok());
}

TEST_F(JobsTest, ACatalogThatStaysAwaySaysTheBackupIsCommitted) {
  RefusingCatalog away(catalog_.get(), 100);
  Jobs jobs(&away, repo_.get(), *engines_);
  auto rec = jobs.Backup(cluster_, "b1", catalog::BackupRecord::MANUAL,
                         {.cancelled = cancelled_, .progress = progress_});
  EXPECT_EQ(rec.status().code(), absl::StatusCode::kUnavailable) << rec.status();
  EXPECT_THAT(rec.status().message(),
              HasSubstr("backup 'b1' is committed to the repository but could not be listed"));
  EXPECT_THAT(rec.status().message(), HasSubstr("database is locked"));
  EXPECT_EQ(away.calls, 4);
  EXPECT_TRUE(repo_->ReadManifest("b1").ok());  // there, for the next start to list
}

}  // namespace
}  // namespace mdb::ops
