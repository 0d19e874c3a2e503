// What a restore (or a drill) reads stays while it reads: a delete of its backup is refused, and
// retention leaves the backup to its next pass. Before, either removed the backup midway and the
// restore failed with the target half-written.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "io/stream.h"
#include "mdb_backup/v1/repo.pb.h"
#include "ops/jobs.h"
#include "ops/jobs_test_fixture.h"
#include "repo/lock_keeper.h"
#include "storage/fault_storage.h"

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
  // (Other wording where /proc cannot tell this host's pid scope.)
  EXPECT_THAT(st.message(),
              ::testing::AnyOf(HasSubstr("(a process of this host: its mark lapses when it exits)"),
                               HasSubstr("; should that process be gone, it lapses at ")));
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

// Restores whose marks the store stopped refreshing (writes refused for the stale time) no
// longer hold deletes off elsewhere: when one then fails, it says that what it read may have been
// deleted under it. (Here the packs' reads fail too, as a delete and GC would make them.)
class MarkLapseTest : public JobsTest {
 protected:
  // Restores `backup` on an instance whose store, once the restore is held, refuses the
  // refreshes of the read marks `lapses` picks (by the order they were written in: 0, 1, ...)
  // and every read of a pack, past the stale time; the restore's status.
  absl::Status RestoreWithLapsedMarks(const catalog::BackupRecord& backup,
                                      std::function<bool(size_t)> lapses) {
    struct Timing {  // restored however the test ends
      Timing() {
        repo::SetLockTimingForTest({.refresh = absl::Milliseconds(50), .stale = absl::Seconds(1)});
      }
      ~Timing() { repo::SetLockTimingForTest({}); }
    } timing;
    std::atomic<bool> store_down{false};
    std::mutex mu;
    std::vector<std::string> marks;  // the read marks' keys, in the order they were written
    storage::FaultStorage faulty(
        storage_.get(), [&](storage::FaultOp op, const std::string& key, int) {
          bool fail = false;
          if (op == storage::FaultOp::kPut && absl::StartsWith(key, "locks/read-")) {
            std::lock_guard<std::mutex> lock(mu);
            auto it = std::find(marks.begin(), marks.end(), key);
            const size_t i = it - marks.begin();
            if (it == marks.end()) marks.push_back(key);
            fail = store_down && lapses(i);
          }
          if (op == storage::FaultOp::kGet || op == storage::FaultOp::kGetRange) {
            fail = store_down && absl::StartsWith(key, "packs/");
          }
          return storage::Fault{.fail = fail};
        });
    auto repo = repo::Repository::Open(&faulty, {});
    if (!repo.ok()) return repo.status();
    Jobs restoring(catalog_.get(), repo->get(), *engines_);
    fake_.hold = true;
    absl::Status restored;
    std::thread restore([&] {
      restored =
          restoring.Restore(backup, cluster_, {.cancelled = cancelled_, .progress = progress_});
    });
    for (absl::Time give_up = absl::Now() + absl::Seconds(30); !fake_.holding.load();) {
      if (absl::Now() > give_up) {
        ADD_FAILURE() << "the restore was never held";
        break;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    store_down = true;
    absl::SleepFor(absl::Milliseconds(1500));  // past the stale time without a refresh
    fake_.hold = false;
    restore.join();
    return restored;
  }
  static void ExpectToldLapsed(const absl::Status& restored) {
    EXPECT_FALSE(restored.ok());
    EXPECT_THAT(restored.message(),
                HasSubstr("this restore's repository mark went unrefreshed since "))
        << restored;
    EXPECT_THAT(restored.message(), HasSubstr("a delete elsewhere may have removed what"))
        << restored;
  }
};

TEST_F(MarkLapseTest, ARestoreWhoseMarkLapsedSaysSoWhenItFails) {
  ASSERT_TRUE(Backup("b1").ok());
  auto b1 = catalog_->GetBackup("b1");
  ASSERT_TRUE(b1.ok()) << b1.status();
  ExpectToldLapsed(RestoreWithLapsedMarks(*b1, [](size_t) { return true; }));
}

// The manifests' chain is marked apart where the catalog's rows name no parent: that mark's
// lapse alone is told too.
TEST_F(MarkLapseTest, TheManifestsChainsMarkLapsingIsToldToo) {
  fake_.incremental = true;
  ASSERT_TRUE(Backup("base").ok());
  auto inc = Backup("inc");
  ASSERT_TRUE(inc.ok()) << inc.status();
  inc->set_parent_id("");  // rows edited: the catalog's chain is "inc" alone
  ASSERT_TRUE(catalog_->PutBackup(*inc).ok());
  ExpectToldLapsed(RestoreWithLapsedMarks(*inc, [](size_t i) { return i == 1; }));
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
  absl::Status restored;
  std::thread restore = StartHeldRestore(*inc, &restored);
  // The chain it marked: each backup once.
  auto listed = storage_->List("locks/read-");
  mdb_backup::v1::Lock mark;
  if (listed.ok() && listed->size() == 1) {
    auto body = storage_->Get(listed->front().key);
    EXPECT_TRUE(body.ok() && google::protobuf::util::JsonStringToMessage(*body, &mark).ok());
  } else {
    ADD_FAILURE() << "not one read mark: " << listed.status();
  }
  EXPECT_EQ(mark.what(), "inc,base");
  fake_.hold = false;  // joined however the checks above went
  restore.join();
  EXPECT_TRUE(restored.ok()) << restored;
  EXPECT_EQ(fake_.restored, fake_.streams);
}

// Manifests whose parents loop (planted, in a plain repository) end the restore with DataLoss
// before anything is restored; the walk would otherwise grow until memory ran out.
TEST_F(JobsTest, ARestoreOfManifestsThatLoopIsDataLoss) {
  for (const auto& [id, parent] : {std::pair{"x", "y"}, std::pair{"y", "x"}}) {
    auto w = repo_->StartBackup({.backup_id = id, .parent_id = parent, .engine = "redis"});
    ASSERT_TRUE(w.ok()) << w.status();
    io::StringSource src("data");
    ASSERT_TRUE((*w)->AddStream("shard1/data", &src).ok());
    ASSERT_TRUE((*w)->Commit("").ok());
  }
  auto base = Backup("base");
  ASSERT_TRUE(base.ok()) << base.status();
  catalog::BackupRecord x = *base;
  x.set_id("x");
  ASSERT_TRUE(catalog_->PutBackup(x).ok());
  fake_.restored = {{"untouched", ""}};  // the engine's restore clears it: it must not run
  absl::Status st = jobs_->Restore(x, cluster_, {.cancelled = cancelled_, .progress = progress_});
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_THAT(st.message(),
              HasSubstr("the chain of parents of backup 'x' comes back to backup 'x'"));
  EXPECT_EQ(fake_.restored.count("untouched"), 1u);
}

}  // namespace
}  // namespace mdb::ops
