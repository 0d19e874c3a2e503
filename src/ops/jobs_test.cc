// Jobs and AutomatedBackups over a fake engine (a driver compiled into this test only), a
// temporary repository and an SQLite catalog: what ops promises whatever the engine.
#include "ops/jobs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "absl/time/clock.h"
#include "common/status.h"
#include "common/test_dir.h"
#include "common/test_engines.h"
#include "common/time_util.h"
#include "io/stream.h"
#include "ops/automated.h"
#include "ops/jobs_test_fixture.h"
#include "ops/journal_archivers.h"
#include "ops/leases.h"
#include "ops/tasks.h"
#include "storage/fault_storage.h"
#include "storage/posix/posix_storage.h"

namespace mdb::ops {
namespace {

namespace fs = std::filesystem;
using jobs_fakes::FakeEngine;
using jobs_fakes::JobsTest;
using ::testing::HasSubstr;

TEST_F(JobsTest, ABackupIsCommittedThenRecordedAndRestoresItsBytes) {
  auto rec = Backup("b1");
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->cluster_id(), "c1");
  EXPECT_EQ(rec->folder_id(), "f1");
  EXPECT_EQ(rec->type(), catalog::BackupRecord::MANUAL);
  EXPECT_EQ(rec->method(), catalog::BackupRecord::BASE);
  EXPECT_GT(rec->size(), 0);
  EXPECT_THAT(rec->source_shard_names(), ::testing::ElementsAre("shard1"));
  auto listed = catalog_->GetBackup("b1");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), rec->size());
  EXPECT_TRUE(repo_->ReadManifest("b1").ok());
  ASSERT_TRUE(
      jobs_->Restore(*listed, cluster_, {.cancelled = cancelled_, .progress = progress_}).ok());
  EXPECT_EQ(fake_.restored, fake_.streams);
}

TEST_F(JobsTest, AFailedBackupIsNotRecordedAndItsDataIsCollected) {
  fake_.fail_after_first_stream = absl::DataLossError("shard1 on h:1 sent garbage");
  auto rec = Backup("b1");
  EXPECT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(rec.status().message(), HasSubstr("shard1 on h:1"));
  EXPECT_EQ(catalog_->GetBackup("b1").status().code(), absl::StatusCode::kNotFound);
  repo::RepoStats stats = Stats();
  EXPECT_EQ(stats.backups, 0);
  EXPECT_EQ(stats.packs, 0);  // the stream that was written is garbage, collected at once
  EXPECT_EQ(stats.stored_bytes, 0u);
}

TEST_F(JobsTest, CancelDiscardsTheBackupAndASecondOneWaitsItsTurn) {
  fake_.hold = true;
  absl::StatusOr<catalog::BackupRecord> first;
  std::thread t([&] { first = Backup("b1"); });
  while (!fake_.holding.load()) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_TRUE(jobs_->IsRunning("c1"));
  auto second = Backup("b2");  // one backup per cluster at a time
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("already running"));
  cancelled_ = true;
  t.join();
  EXPECT_EQ(first.status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(jobs_->IsRunning("c1"));
  EXPECT_EQ(catalog_->GetBackup("b1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Stats().packs, 0);
}

TEST_F(JobsTest, AParentIsRefusedOnDeleteUntilItsIncrementIsGone) {
  fake_.incremental = true;
  ASSERT_TRUE(Backup("base").ok());
  auto inc = Backup("inc");
  ASSERT_TRUE(inc.ok()) << inc.status();
  EXPECT_EQ(inc->method(), catalog::BackupRecord::INCREMENTAL);
  EXPECT_EQ(inc->parent_id(), "base");
  absl::Status st = jobs_->Delete("base");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("parent of INCREMENTAL backup 'inc'"));
  ASSERT_TRUE(jobs_->Delete("inc").ok());
  ASSERT_TRUE(jobs_->Delete("base").ok());
  repo::RepoStats stats = Stats();
  EXPECT_EQ(stats.backups, 0);
  EXPECT_EQ(stats.stored_bytes, 0u);  // delete frees the space
}

// An INCREMENTAL backup is not listed until it commits: a delete of its parent meanwhile is
// refused (it left a DONE backup whose parent was gone).
TEST_F(JobsTest, ADeleteIsRefusedWhileABackupOfTheClusterRuns) {
  fake_.incremental = true;
  ASSERT_TRUE(Backup("base").ok());
  fake_.hold = true;
  absl::StatusOr<catalog::BackupRecord> inc;
  std::thread t([&] { inc = Backup("inc"); });
  while (!fake_.holding.load()) absl::SleepFor(absl::Milliseconds(1));
  absl::Status st = jobs_->Delete("base");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_THAT(st.message(), HasSubstr("a backup of cluster 'c1' is already running"));
  EXPECT_TRUE(repo_->ReadManifest("base").ok());
  fake_.hold = false;
  t.join();
  ASSERT_TRUE(inc.ok()) << inc.status();
  EXPECT_EQ(inc->parent_id(), "base");
  ASSERT_TRUE(
      jobs_->Restore(*inc, cluster_, {.cancelled = cancelled_, .progress = progress_}).ok());
  EXPECT_FALSE(jobs_->IsRunning("c1"));  // the refused delete held nothing
}

// Asked for an INCREMENTAL, the engine copied everything (a new history, an unreadable parent):
// the record and the manifest say BASE, with no parent to keep or to need.
TEST_F(JobsTest, AnIncrementalThatTookNothingFromItsParentIsRecordedBase) {
  fake_.incremental = true;
  ASSERT_TRUE(Backup("base").ok());
  fake_.whole = true;
  auto second = Backup("second");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->method(), catalog::BackupRecord::BASE);
  EXPECT_EQ(second->parent_id(), "");
  EXPECT_EQ(repo_->ReadManifest("second")->parent_id(), "");
  ASSERT_TRUE(jobs_->Delete("base").ok());  // nothing builds on it
  fake_.whole = false;
  auto third = Backup("third");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->method(), catalog::BackupRecord::INCREMENTAL);
  EXPECT_EQ(third->parent_id(), "second");
}

TEST_F(JobsTest, JournalPiecesCountTowardTheBackupTheyContinueAndMergeOnDelete) {
  fake_.metadata = "start=100";
  ASSERT_TRUE(Backup("b1").ok());
  // Pieces by journal position: [100,150) continues b1; [150,250) and [250,300) end past b2's
  // start (200), so they belong to b2, the newest backup they continue.
  fake_.journal = {
      {.shard = "shard1", .object = "p1", .start = 100, .end = 150, .stored_bytes = 10},
      {.shard = "shard1", .object = "p2", .start = 150, .end = 250, .stored_bytes = 20},
      {.shard = "shard1", .object = "p3", .start = 250, .end = 300, .stored_bytes = 30}};
  fake_.metadata = "start=200";
  ASSERT_TRUE(Backup("b2").ok());  // its commit recounts the cluster's journal
  EXPECT_EQ(catalog_->GetBackup("b1")->journal_size(), 10);
  EXPECT_EQ(catalog_->GetBackup("b2")->journal_size(), 50);
  // Deleting b2 leaves b1's journal running through b2's: its share moves to b1.
  ASSERT_TRUE(jobs_->Delete("b2").ok());
  EXPECT_EQ(catalog_->GetBackup("b1")->journal_size(), 60);
}

// A backup whose manifest cannot be read now (a store error) holds the journal back all the same.
// Before, it was left out, and the journal from its start to the next backup's was lost.
TEST_F(JobsTest, AManifestThatCannotBeReadStopsTheJournalsPrune) {
  for (auto [id, start] :
       {std::pair{"b1", "start=100"}, {"b2", "start=200"}, {"b3", "start=300"}}) {
    fake_.metadata = start;
    ASSERT_TRUE(Backup(id).ok());
  }
  bool refuse = true;  // reads of b1's manifest fail (a process that has not cached it yet)
  storage::FaultStorage faulty(storage_.get(), [&](storage::FaultOp op, const std::string& key,
                                                   int) {
    return storage::Fault{.fail = refuse && op == storage::FaultOp::kGet && key == "manifests/b1"};
  });
  auto repo = std::move(*repo::Repository::Open(&faulty, {}));
  Jobs jobs(catalog_.get(), repo.get(), *engines_);
  fake_.prunes.clear();
  ASSERT_TRUE(jobs.Delete("b3").ok());
  EXPECT_TRUE(fake_.prunes.empty());
  refuse = false;
  ASSERT_TRUE(jobs.Delete("b2").ok());
  ASSERT_EQ(fake_.prunes.size(), 1u);
  EXPECT_EQ(fake_.prunes[0], (std::map<std::string, uint64_t>{{"shard1", 100}}));
}

TEST_F(JobsTest, PiecesReportedLiveCountOnceTowardTheNewestBackupTheyContinue) {
  fake_.metadata = "start=100";
  ASSERT_TRUE(Backup("b1").ok());
  fake_.metadata = "start=200";
  // p0 was committed while b2 ran: b2's commit recounts it from the repository...
  fake_.journal = {
      {.shard = "shard1", .object = "p0", .start = 150, .end = 250, .stored_bytes = 7}};
  ASSERT_TRUE(Backup("b2").ok());
  EXPECT_EQ(catalog_->GetBackup("b2")->journal_size(), 7);
  JournalKeeper& keeper = jobs_->journal();
  // ...so its late report adds nothing; a new piece past b2's start counts toward b2; one that
  // ends before every backup's start toward none; one of another shard toward none.
  ASSERT_TRUE(keeper.AddPiece(cluster_, fake_.journal[0]).ok());
  ASSERT_TRUE(
      keeper
          .AddPiece(
              cluster_,
              {.shard = "shard1", .object = "p1", .start = 250, .end = 300, .stored_bytes = 5})
          .ok());
  ASSERT_TRUE(
      keeper
          .AddPiece(
              cluster_,
              {.shard = "shard1", .object = "old", .start = 10, .end = 90, .stored_bytes = 1000})
          .ok());
  ASSERT_TRUE(
      keeper
          .AddPiece(
              cluster_,
              {.shard = "other", .object = "o1", .start = 250, .end = 300, .stored_bytes = 1000})
          .ok());
  EXPECT_EQ(catalog_->GetBackup("b2")->journal_size(), 12);
  EXPECT_EQ(catalog_->GetBackup("b1")->journal_size(), 0);
}

TEST_F(JobsTest, ArchiversFollowTheDeclaredClustersAndReportToTheKeeper) {
  fake_.metadata = "start=0";
  ASSERT_TRUE(Backup("b1").ok());
  JournalArchivers archivers(repo_.get(), *engines_, &jobs_->journal(), [](const std::string&) {});
  common::Config config;
  config.clusters = {cluster_};
  archivers.Apply(config);
  archivers.Apply(config);  // unchanged: left running
  EXPECT_EQ(fake_.archiver_events, std::vector<std::string>{"start c1"});
  fake_.report({.shard = "shard1", .object = "w1", .start = 0, .end = 10, .stored_bytes = 9});
  EXPECT_EQ(catalog_->GetBackup("b1")->journal_size(), 9);
  config.clusters[0].shards = {{.name = "shard1", .hosts = {{.address = "h:2"}}}};
  archivers.Apply(config);  // declaration changed: the old one stops before the new one starts
  EXPECT_EQ(fake_.archiver_events, (std::vector<std::string>{"start c1", "stop c1", "start c1"}));
  config.clusters.clear();
  archivers.Apply(config);  // no longer declared
  EXPECT_EQ(fake_.archiver_events.back(), "stop c1");
  EXPECT_TRUE(archivers.Running().empty());
  // A restore target is never a journal source.
  config.clusters = {cluster_};
  config.clusters[0].restore_target = true;
  archivers.Apply(config);
  EXPECT_TRUE(archivers.Running().empty());
  EXPECT_EQ(fake_.archiver_events.back(), "stop c1");
}

// Two instances, one cluster: the journal lease decides which archives it; when the owner stops
// renewing, the other takes over at its next Apply after the lease ran out.
TEST_F(JobsTest, OneInstanceArchivesAClustersJournalAndAnotherTakesOver) {
  struct Clock final : ops::Clock {
    absl::Time Now() const override { return now; }
    absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  } clock;
  Leases a_leases(catalog_.get(), "a", &clock), b_leases(catalog_.get(), "b", &clock);
  JournalArchivers a(repo_.get(), *engines_, &jobs_->journal(), [](const std::string&) {});
  JournalArchivers b(repo_.get(), *engines_, &jobs_->journal(), [](const std::string&) {});
  const absl::Duration lease = absl::Seconds(30);
  a.set_owns([&](const std::string& id) { return *a_leases.Hold("journal/" + id, lease); });
  b.set_owns([&](const std::string& id) { return *b_leases.Hold("journal/" + id, lease); });
  common::Config config;
  config.clusters = {cluster_};
  a.Apply(config);
  b.Apply(config);
  EXPECT_EQ(a.Running(), std::vector<std::string>{"c1"});
  EXPECT_TRUE(b.Running().empty());
  clock.now += absl::Seconds(10);  // a renews every third of the lease; b keeps trying
  a.Apply(config);
  b.Apply(config);
  EXPECT_TRUE(b.Running().empty());
  clock.now += absl::Seconds(31);  // a has died (no more renewals): past its lease
  b.Apply(config);
  EXPECT_EQ(b.Running(), std::vector<std::string>{"c1"});
  // a, back from a pause, finds the cluster is b's and stops its archiver.
  a.Apply(config);
  EXPECT_TRUE(a.Running().empty());
  EXPECT_EQ(fake_.archiver_events, (std::vector<std::string>{"start c1", "start c1", "stop c1"}));
}

// Two instances on one catalog and repository: while one backs up a cluster, the other's backup
// of it is refused; once the first ends, the other may.
TEST_F(JobsTest, OneBackupOfAClusterAtATimeAcrossInstances) {
  SystemClock clock;
  Leases a_leases(catalog_.get(), "a", &clock), b_leases(catalog_.get(), "b", &clock);
  Jobs other(catalog_.get(), repo_.get(), *engines_);
  auto claims = [](Leases* leases) {
    return Jobs::Claims{
        .claim =
            [leases](const std::string& id) {
              return leases->Hold("backup/" + id, absl::Seconds(30));
            },
        .release = [leases](const std::string& id) { (void)leases->Release("backup/" + id); }};
  };
  jobs_->set_claims(claims(&a_leases));
  other.set_claims(claims(&b_leases));
  fake_.hold = true;
  std::thread first([&] { EXPECT_TRUE(Backup("b1").ok()); });
  while (!fake_.holding) absl::SleepFor(absl::Milliseconds(1));
  CancelFlag no{false}, give_up{false};
  Progress progress;
  // Were it not refused, it would wait on the held fake engine: cancelled after 5 s instead.
  std::thread guard([&] {
    for (int i = 0; i < 500 && fake_.hold; ++i) absl::SleepFor(absl::Milliseconds(10));
    give_up = true;
  });
  auto refused = other.Backup(cluster_, "b2", catalog::BackupRecord::MANUAL,
                              {.cancelled = give_up, .progress = progress});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("another instance"), std::string::npos);
  jobs_->RenewClaims();  // the holder renews; still refused elsewhere
  EXPECT_FALSE(*b_leases.Hold("backup/c1", absl::Seconds(30)));
  fake_.hold = false;
  first.join();
  guard.join();
  auto later = other.Backup(cluster_, "b3", catalog::BackupRecord::MANUAL,
                            {.cancelled = no, .progress = progress});
  EXPECT_TRUE(later.ok()) << later.status();
}

TEST_F(JobsTest, RetentionKeepsManualAndTheNewestAndDeletesExpiredAutomated) {
  ASSERT_TRUE(Backup("auto-1", catalog::BackupRecord::AUTOMATED).ok());
  ASSERT_TRUE(Backup("manual", catalog::BackupRecord::MANUAL).ok());
  ASSERT_TRUE(Backup("auto-2", catalog::BackupRecord::AUTOMATED).ok());
  auto gone = jobs_->ApplyRetention(cluster_, absl::Now() + absl::Hours(24 * 8));
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_THAT(*gone, ::testing::ElementsAre("auto-1"));
  EXPECT_FALSE(catalog_->GetBackup("auto-1").ok());
  EXPECT_TRUE(catalog_->GetBackup("manual").ok());
  EXPECT_TRUE(catalog_->GetBackup("auto-2").ok());  // the newest stays, whatever its age
}

// The cluster's id was another folder's before (a folder change in the config, or an id reused):
// that folder's backups are not this cluster's retention to delete, and its newer backup does not
// make this folder's newest expire.
TEST_F(JobsTest, RetentionLeavesTheBackupsOfAnotherFolderAlone) {
  ASSERT_TRUE(Backup("ours-1", catalog::BackupRecord::AUTOMATED).ok());
  ASSERT_TRUE(Backup("ours-2", catalog::BackupRecord::AUTOMATED).ok());
  auto theirs = Backup("theirs", catalog::BackupRecord::AUTOMATED);  // the id's newest
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  theirs->set_folder_id("f-other");
  ASSERT_TRUE(catalog_->PutBackup(*theirs).ok());
  auto gone = jobs_->ApplyRetention(cluster_, absl::Now() + absl::Hours(24 * 8));
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_THAT(*gone, ::testing::ElementsAre("ours-1"));
  EXPECT_TRUE(catalog_->GetBackup("ours-2").ok());  // this folder's newest
  EXPECT_TRUE(catalog_->GetBackup("theirs").ok());
}

TEST_F(JobsTest, TheAutomatedPolicyIsABackupThenRetentionAsOneOperation) {
  auto old = Backup("old-auto", catalog::BackupRecord::AUTOMATED);
  ASSERT_TRUE(old.ok()) << old.status();
  // Made 30 days old in the catalog (retention reads ages there): past the 7 days of retention.
  *old->mutable_created_at() = common::ToProto(absl::Now() - absl::Hours(24 * 30));
  *old->mutable_started_at() = old->created_at();
  ASSERT_TRUE(catalog_->PutBackup(*old).ok());
  // The operation is queued as data and run by the runner's executor, as on any instance.
  Tasks tasks(
      catalog_.get(), jobs_.get(),
      [&](const std::string& id) {
        return id == cluster_.id ? std::optional<common::ClusterConfig>(cluster_) : std::nullopt;
      },
      [] { return common::DrillsConfig{}; }, [&] { return std::vector{cluster_}; });
  OperationRunner runner(catalog_.get(), 1, {.executor = &tasks});
  int described = 0;
  AutomatedBackups automated(&runner, jobs_.get(),
                             [&](const common::ClusterConfig& c, const std::string& backup_id) {
                               ++described;
                               return absl::StatusOr<BackupOperationShape>(BackupOperationShape{});
                             });
  auto op = automated.Start(cluster_);
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->created_by(), "scheduler");
  runner.WaitIdle();
  auto done = catalog_->GetOperation(op->id());
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(done->operation.done());
  EXPECT_FALSE(done->operation.has_error()) << done->operation.error().message();
  EXPECT_EQ(described, 1);
  // The new AUTOMATED backup is there, and retention (after it) removed the expired one.
  auto page = catalog_->ListBackups({.engine = cluster_.engine, .cluster_id = "c1"});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->backups.size(), 1u);
  EXPECT_EQ(page->backups[0].type(), catalog::BackupRecord::AUTOMATED);
  EXPECT_NE(page->backups[0].id(), "old-auto");
  EXPECT_FALSE(repo_->ReadManifest("old-auto").ok());
  // While a backup of the cluster runs, the scheduler's next attempt is refused, not queued.
  fake_.hold = true;
  auto held = automated.Start(cluster_);
  ASSERT_TRUE(held.ok());
  while (!fake_.holding.load()) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(automated.Start(cluster_).status().code(), absl::StatusCode::kFailedPrecondition);
  fake_.hold = false;
  runner.WaitIdle();
}

}  // namespace
}  // namespace mdb::ops
