#include "ops/operation_runner.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "catalog/forwarding_catalog.h"
#include "google/protobuf/empty.pb.h"
#include "yandex/cloud/mdb/redis/v1/cluster_service.pb.h"

namespace mdb::ops {
namespace {

class OperationRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("runner_test_" + std::to_string(getpid()) + ".db");
    std::filesystem::remove(path_);
    catalog_ = std::move(*catalog::OpenSqliteCatalog(path_.string()));
  }
  void TearDown() override {
    catalog_.reset();
    std::filesystem::remove(path_);
  }
  std::filesystem::path path_;
  std::unique_ptr<catalog::Catalog> catalog_;
};

TEST_F(OperationRunnerTest, RecordsResponseAndError) {
  OperationRunner runner(catalog_.get(), 2);
  auto ok = runner.Start({.description = "ok", .created_by = "me", .folder_id = "f"},
                         [](const TaskContext&) -> absl::StatusOr<google::protobuf::Any> {
                           google::protobuf::Any any;
                           any.PackFrom(google::protobuf::Empty());
                           return any;
                         });
  auto bad = runner.Start({.description = "bad", .folder_id = "f"},
                          [](const TaskContext&) -> absl::StatusOr<google::protobuf::Any> {
                            return absl::NotFoundError("backup 'x' not found");
                          });
  ASSERT_TRUE(ok.ok() && bad.ok());
  EXPECT_FALSE(ok->done());
  runner.WaitIdle();
  auto ok_rec = catalog_->GetOperation(ok->id());
  ASSERT_TRUE(ok_rec.ok());
  EXPECT_TRUE(ok_rec->operation.done());
  EXPECT_TRUE(ok_rec->operation.response().Is<google::protobuf::Empty>());
  EXPECT_EQ(ok_rec->operation.created_by(), "me");
  auto bad_rec = catalog_->GetOperation(bad->id());
  ASSERT_TRUE(bad_rec.ok());
  EXPECT_TRUE(bad_rec->operation.done());
  EXPECT_EQ(bad_rec->operation.error().code(), 5);
  EXPECT_EQ(bad_rec->operation.error().message(), "backup 'x' not found");
}

TEST_F(OperationRunnerTest, RunningWorkSeesCancellation) {
  OperationRunner runner(catalog_.get(), 1);
  std::atomic<bool> started{false};
  auto op = runner.Start({.folder_id = "f"},
                         [&](const TaskContext& task) -> absl::StatusOr<google::protobuf::Any> {
                           started = true;
                           task.progress.SetTotal(100);
                           task.progress.SetDone(40);
                           while (!task.cancelled.load()) std::this_thread::yield();
                           return absl::CancelledError("cancelled; partial data removed");
                         });
  ASSERT_TRUE(op.ok());
  while (!started) std::this_thread::yield();
  auto progress = runner.ProgressOf(op->id());
  ASSERT_TRUE(progress.has_value());
  EXPECT_EQ(progress->first, 40);
  EXPECT_EQ(progress->second, 100);
  ASSERT_TRUE(runner.Cancel(op->id()).ok());
  runner.WaitIdle();
  EXPECT_EQ(catalog_->GetOperation(op->id())->operation.error().code(), 1);
  EXPECT_EQ(runner.Cancel(op->id()).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A shutdown waits for running work up to its grace, then stops it: it ends ABORTED with a
// reason a person can act on, and so does local work queued behind it. Work that ends within
// the grace ends as it would have.
TEST_F(OperationRunnerTest, AShutdownStopsWhatStillRunsAfterItsGrace) {
  OperationRunner runner(catalog_.get(), 1, {.owner = "mdb-a"});
  std::atomic<bool> started{false}, saw_cancel{false};
  auto quick = runner.Start({.folder_id = "f"},
                            [&](const TaskContext&) -> absl::StatusOr<google::protobuf::Any> {
                              return google::protobuf::Any();
                            });
  ASSERT_TRUE(quick.ok());
  runner.WaitIdle();
  EXPECT_EQ(runner.Drain(absl::Seconds(5)), 0);  // idle: returns at once
  std::atomic<bool> release{false};
  auto ends = runner.Start({.folder_id = "f"},
                           [&](const TaskContext& task) -> absl::StatusOr<google::protobuf::Any> {
                             while (!release && !task.cancelled.load()) std::this_thread::yield();
                             if (task.cancelled.load()) return absl::CancelledError("cancelled");
                             return google::protobuf::Any();
                           });
  ASSERT_TRUE(ends.ok());
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release = true;
  });
  EXPECT_EQ(runner.Drain(absl::Seconds(30)), 0);  // it ended within the grace, as it would have
  releaser.join();
  EXPECT_TRUE(catalog_->GetOperation(ends->id())->operation.has_response());
  auto slow = runner.Start({.description = "Restore", .folder_id = "f"},
                           [&](const TaskContext& task) -> absl::StatusOr<google::protobuf::Any> {
                             started = true;
                             while (!task.cancelled.load()) std::this_thread::yield();
                             saw_cancel = true;
                             return absl::CancelledError("restore cancelled; target detached");
                           });
  auto behind = runner.Start({.folder_id = "f"},
                             [&](const TaskContext&) -> absl::StatusOr<google::protobuf::Any> {
                               ADD_FAILURE() << "queued work ran after the shutdown's grace";
                               return google::protobuf::Any();
                             });
  ASSERT_TRUE(slow.ok() && behind.ok());
  while (!started) std::this_thread::yield();
  EXPECT_EQ(runner.Drain(absl::Milliseconds(200)), 2);
  EXPECT_TRUE(saw_cancel);
  const std::string reason =
      "the service (mdb-a) was stopping and stopped the operation after 200ms";
  for (const auto& [id, message] :
       {std::pair{
            slow->id(),
            reason + ". It reported: restore cancelled; target detached. Then start it again"},
        std::pair{behind->id(), reason + "; start it again"}}) {
    auto rec = catalog_->GetOperation(id);
    ASSERT_TRUE(rec.ok());
    EXPECT_TRUE(rec->operation.done());
    EXPECT_EQ(rec->operation.error().code(), static_cast<int>(absl::StatusCode::kAborted));
    EXPECT_EQ(rec->operation.error().message(), message);
  }
  EXPECT_TRUE(catalog_->GetOperation(quick->id())->operation.has_response());
}

// Work a person cancelled that is still cleaning up when the grace ends keeps its CANCELLED: a
// shutdown does not relabel it ABORTED (which would make the scheduler retry a cancelled window).
TEST_F(OperationRunnerTest, AShutdownLeavesWorkAlreadyCancelledCancelled) {
  OperationRunner runner(catalog_.get(), 1, {.owner = "mdb-a"});
  std::atomic<bool> started{false}, saw_cancel{false}, release{false};
  auto op = runner.Start({.folder_id = "f"},
                         [&](const TaskContext& task) -> absl::StatusOr<google::protobuf::Any> {
                           started = true;
                           while (!task.cancelled.load()) std::this_thread::yield();
                           saw_cancel = true;
                           while (!release) std::this_thread::yield();  // its cleanup
                           return absl::CancelledError("backup cancelled; partial data removed");
                         });
  ASSERT_TRUE(op.ok());
  while (!started) std::this_thread::yield();  // running: a queued one would end at the cancel
  ASSERT_TRUE(runner.Cancel(op->id()).ok());
  while (!saw_cancel) std::this_thread::yield();
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    release = true;
  });
  EXPECT_EQ(runner.Drain(absl::ZeroDuration()), 0);  // nothing left to stop
  releaser.join();
  auto rec = catalog_->GetOperation(op->id());
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->operation.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(rec->operation.error().message(), "backup cancelled; partial data removed");
}

// A stored request's executor: records what ran where, and holds each run until released.
class RecordingExecutor final : public TaskExecutor {
 public:
  absl::StatusOr<google::protobuf::Any> Run(const std::string& request,
                                            const TaskContext& task) override {
    std::unique_lock<std::mutex> lock(mu_);
    ran_.push_back(request);
    cv_.notify_all();
    cv_.wait(lock, [&] { return !hold_; });
    google::protobuf::Any out;
    out.PackFrom(google::protobuf::Empty());
    return out;
  }
  void Hold(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
    cv_.notify_all();
  }
  void WaitRunning(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ran_.size() >= n; });
  }
  std::vector<std::string> ran() {
    std::lock_guard<std::mutex> lock(mu_);
    return ran_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  std::vector<std::string> ran_;
};

TEST_F(OperationRunnerTest, FailsOperationsLeftByAPreviousProcessAndRunsTheQueuedOnes) {
  catalog::OperationRecord left;  // running in the previous process
  left.folder_id = "f";
  left.operation.set_id("left-behind");
  ASSERT_TRUE(catalog_->PutOperation(left).ok());
  RecordingExecutor executor;
  std::string queued_id;
  {
    OperationRunner before(catalog_.get(), 1, {.executor = &executor, .claim_at_start = false});
    auto queued = before.Start({.folder_id = "f"}, "queued before the restart");
    ASSERT_TRUE(queued.ok()) << queued.status();
    queued_id = queued->id();
  }  // stopped before any worker took it
  EXPECT_TRUE(executor.ran().empty());

  OperationRunner runner(catalog_.get(), 1, {.executor = &executor, .claim_at_start = false});
  EXPECT_EQ(*runner.FailInterrupted(), 1);  // the queued one is not failed...
  auto rec = catalog_->GetOperation("left-behind");
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->operation.done());
  EXPECT_EQ(rec->operation.error().code(), static_cast<int>(absl::StatusCode::kAborted));
  runner.StartClaiming();  // ...but run once the new process claims
  runner.WaitIdle();
  EXPECT_EQ(executor.ran(), std::vector<std::string>{"queued before the restart"});
  rec = catalog_->GetOperation(queued_id);
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->operation.done());
  EXPECT_FALSE(rec->operation.has_error());
  EXPECT_EQ(rec->owner, runner.owner());
  EXPECT_TRUE(catalog_->ListUnfinishedOperations()->empty());
}

TEST_F(OperationRunnerTest, AQueuedOperationIsCancelledBeforeAnyoneRunsIt) {
  RecordingExecutor executor;
  OperationRunner runner(catalog_.get(), 1, {.executor = &executor, .claim_at_start = false});
  auto op = runner.Start({.folder_id = "f"}, "never run");
  ASSERT_TRUE(op.ok()) << op.status();
  auto cancelled = runner.Cancel(op->id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  runner.StartClaiming();
  runner.WaitIdle();
  EXPECT_TRUE(executor.ran().empty());
  EXPECT_TRUE(catalog_->GetOperation(op->id())->operation.done());
  EXPECT_EQ(runner.Cancel(op->id()).status().code(), absl::StatusCode::kFailedPrecondition);
  // Without an executor a runner takes no requests (it could never run them).
  OperationRunner plain(catalog_.get(), 1);
  EXPECT_EQ(plain.Start({.folder_id = "f"}, "x").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Several instances on one catalog (each runner is one; here in one process, with short leases).
class InstancesTest : public OperationRunnerTest {
 protected:
  static RunnerOptions Instance(const std::string& name,
                                absl::Duration skew = absl::ZeroDuration()) {
    return {.owner = name, .lease = absl::Milliseconds(300), .now = [skew] {
              return absl::Now() + skew;
            }};
  }
  // Work that reports progress and runs until cancelled (or 5 s: a test that fails ends).
  static Work UntilCancelled(std::atomic<bool>* started) {
    return [started](const TaskContext& task) -> absl::StatusOr<google::protobuf::Any> {
      task.progress.SetTotal(1000);
      task.progress.SetDone(250);
      *started = true;
      absl::Time give_up = absl::Now() + absl::Seconds(5);
      while (!task.cancelled.load()) {
        if (absl::Now() > give_up) return absl::DeadlineExceededError("never cancelled");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return absl::CancelledError("cancelled; partial data removed");
    };
  }
  static OperationSpec Spec() {
    OperationSpec spec{.description = "Create backup", .folder_id = "f"};
    spec.metadata.PackFrom(yandex::cloud::mdb::redis::v1::BackupClusterMetadata());
    return spec;
  }
  static void WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 400 && !done(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
};

TEST_F(InstancesTest, ProgressIsStoredAndACancelOnAnyInstanceReachesTheOwner) {
  OperationRunner a(catalog_.get(), 1, Instance("a"));
  auto other = catalog::OpenSqliteCatalog(path_.string());
  ASSERT_TRUE(other.ok());
  OperationRunner b(other->get(), 1, Instance("b"));
  std::atomic<bool> started{false};
  auto op = a.Start(Spec(), UntilCancelled(&started));
  ASSERT_TRUE(op.ok()) << op.status();
  WaitFor([&] { return started.load(); });
  // b has no progress of its own for it: it reads what a's heartbeat stored.
  yandex::cloud::mdb::redis::v1::BackupClusterMetadata meta;
  WaitFor([&] {
    auto rec = (*other)->GetOperation(op->id());
    return rec.ok() && rec->operation.metadata().UnpackTo(&meta) && meta.bytes_done() == 250;
  });
  EXPECT_EQ(meta.bytes_done(), 250);
  EXPECT_EQ(meta.bytes_total(), 1000);
  EXPECT_FALSE(b.ProgressOf(op->id()).has_value());
  // Cancelled through b: a stops it at its next heartbeat.
  auto cancelled = b.Cancel(op->id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  WaitFor([&] { return catalog_->GetOperation(op->id())->operation.done(); });
  auto rec = catalog_->GetOperation(op->id());
  EXPECT_TRUE(rec->operation.done());
  EXPECT_EQ(rec->operation.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(b.Cancel(op->id()).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(InstancesTest, ASurvivorEndsADeadInstancesOperationsOnlyAfterTheLease) {
  // A dead instance's row: its lease runs 400 ms more, then nobody renews it.
  catalog::OperationRecord left;
  left.folder_id = "f";
  left.owner = "dead";
  left.lease_until = absl::Now() + absl::Milliseconds(400);
  left.operation.set_id("orphan");
  ASSERT_TRUE(catalog_->PutOperation(left).ok());
  OperationRunner b(catalog_.get(), 1, Instance("b"));
  b.Heartbeat();
  EXPECT_FALSE(catalog_->GetOperation("orphan")->operation.done());  // lease still running
  WaitFor([&] { return catalog_->GetOperation("orphan")->operation.done(); });
  auto rec = catalog_->GetOperation("orphan");
  EXPECT_EQ(rec->operation.error().code(), static_cast<int>(absl::StatusCode::kAborted));
  EXPECT_NE(rec->operation.error().message().find("dead"), std::string::npos);
}

TEST_F(InstancesTest, AnInstanceCutOffPastItsLeaseStopsAndItsLateEndDoesNotCount) {
  // a's renewals reach the catalog but say "until 10 s ago" (as if a had been paused for
  // longer than its lease): b ends a's operation, and a, seeing it is no longer its own, stops
  // the work; its CANCELLED does not replace b's ABORTED.
  OperationRunner a(catalog_.get(), 1, Instance("a", -absl::Seconds(10)));
  std::atomic<bool> started{false};
  auto op = a.Start(Spec(), UntilCancelled(&started));
  ASSERT_TRUE(op.ok());
  WaitFor([&] { return started.load(); });
  OperationRunner b(catalog_.get(), 1, Instance("b"));
  b.Heartbeat();
  WaitFor([&] { return !a.ProgressOf(op->id()).has_value(); });  // a stopped it
  EXPECT_FALSE(a.ProgressOf(op->id()).has_value());
  auto rec = catalog_->GetOperation(op->id());
  EXPECT_TRUE(rec->operation.done());
  EXPECT_EQ(rec->operation.error().code(), static_cast<int>(absl::StatusCode::kAborted));
}

// A catalog whose lease renewals fail while `down` (an instance cut off from it; the rest of
// the test's calls still work).
class CutOffCatalog final : public catalog::ForwardingCatalog {
 public:
  explicit CutOffCatalog(catalog::Catalog* real) : ForwardingCatalog(real) {}
  std::atomic<bool> down{false};
  std::atomic<bool> ends_refused{false};  // operations' ends fail, the rest works

  absl::StatusOr<bool> FinishOperation(const catalog::OperationRecord& op,
                                       std::optional<absl::Time> expired_at) override {
    if (ends_refused) return absl::UnavailableError("no route to the catalog");
    return ForwardingCatalog::FinishOperation(op, expired_at);
  }
  absl::StatusOr<catalog::OperationLease> RenewOperation(
      const catalog::OperationRecord& op) override {
    if (down) return absl::UnavailableError("no route to the catalog");
    return ForwardingCatalog::RenewOperation(op);
  }
};

// An instance cut off from the catalog (not from its sources) stops its work once it could
// not renew for two thirds of a lease: at the lease's end a survivor may end it and start the
// same backup. Its own end (written if the catalog is back by then) says why: ABORTED.
TEST_F(InstancesTest, AnInstanceThatCannotRenewForALeaseStopsItsWork) {
  CutOffCatalog cut(catalog_.get());
  RunnerOptions options = Instance("a");
  options.stop_when_cut_off = true;  // several instances
  OperationRunner a(&cut, 1, options);
  std::atomic<bool> started{false};
  auto op = a.Start(Spec(), UntilCancelled(&started));  // gives up by itself after 5 s
  ASSERT_TRUE(op.ok());
  WaitFor([&] { return started.load(); });
  cut.down = true;  // renewals fail; the end is written
  for (int i = 0; i < 400 && a.ProgressOf(op->id()).has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // at most 4 s
  }
  EXPECT_FALSE(a.ProgressOf(op->id()).has_value());  // stopped, before giving up by itself
  auto rec = catalog_->GetOperation(op->id());
  EXPECT_TRUE(rec->operation.done());
  EXPECT_EQ(rec->operation.error().code(), static_cast<int>(absl::StatusCode::kAborted));
  EXPECT_NE(rec->operation.error().message().find("could not reach the catalog"), std::string::npos)
      << rec->operation.error().message();
  // Alone on a catalog (SQLite; no survivor could end it) an outage does not stop the work.
  CutOffCatalog alone(catalog_.get());
  OperationRunner single(&alone, 1, Instance("single"));
  started = false;
  op = single.Start(Spec(), UntilCancelled(&started));
  ASSERT_TRUE(op.ok());
  WaitFor([&] { return started.load(); });
  alone.down = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // two leases
  EXPECT_TRUE(single.ProgressOf(op->id()).has_value());
  alone.down = false;
  ASSERT_TRUE(single.Cancel(op->id()).ok());
  single.WaitIdle();
}

// An operation whose end the catalog refused is not left RUNNING there (until a restart, or
// ABORTED by a survivor though its work was done): its end is written at a later heartbeat.
TEST_F(InstancesTest, AnEndTheCatalogRefusedIsWrittenAtALaterHeartbeat) {
  CutOffCatalog cut(catalog_.get());
  OperationRunner a(&cut, 1, Instance("a"));
  cut.ends_refused = true;
  auto op = a.Start(Spec(), [](const TaskContext&) -> absl::StatusOr<google::protobuf::Any> {
    google::protobuf::Any any;
    any.PackFrom(google::protobuf::Empty());
    return any;
  });
  ASSERT_TRUE(op.ok()) << op.status();
  a.WaitIdle();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // three beats refused
  EXPECT_FALSE(catalog_->GetOperation(op->id())->operation.done());
  cut.ends_refused = false;
  WaitFor([&] { return catalog_->GetOperation(op->id())->operation.done(); });
  auto rec = catalog_->GetOperation(op->id());
  EXPECT_TRUE(rec->operation.done());
  EXPECT_TRUE(rec->operation.response().Is<google::protobuf::Empty>())
      << rec->operation.error().message();
}

// Operations as data: queued by one instance, claimed by whichever has a free worker; each
// runs once, and an instance takes no more than its workers.
TEST_F(InstancesTest, QueuedWorkSpreadsOverInstancesAndRunsOnce) {
  RecordingExecutor executor;
  auto other = catalog::OpenSqliteCatalog(path_.string());
  ASSERT_TRUE(other.ok());
  RunnerOptions oa = Instance("a"), ob = Instance("b");
  oa.executor = ob.executor = &executor;
  oa.claim_poll = ob.claim_poll = absl::Milliseconds(20);
  OperationRunner a(catalog_.get(), 1, oa);
  OperationRunner b(other->get(), 1, ob);
  executor.Hold(true);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto op = a.Start(Spec(), absl::StrCat("task ", i));  // all through a
    ASSERT_TRUE(op.ok()) << op.status();
    ids.push_back(op->id());
  }
  executor.WaitRunning(2);
  EXPECT_EQ(executor.ran().size(), 2u);  // one worker each, both held: two still queued
  std::multiset<std::string> owners;
  for (const auto& id : ids) owners.insert(catalog_->GetOperation(id)->owner);
  EXPECT_EQ(owners, (std::multiset<std::string>{"", "", "a", "b"}));
  executor.Hold(false);
  WaitFor([&] { return catalog_->ListUnfinishedOperations()->empty(); });
  std::vector<std::string> ran = executor.ran();
  EXPECT_EQ(std::set<std::string>(ran.begin(), ran.end()),
            (std::set<std::string>{"task 0", "task 1", "task 2", "task 3"}));
  EXPECT_EQ(ran.size(), 4u);
  for (const auto& id : ids) {
    auto rec = catalog_->GetOperation(id);
    EXPECT_TRUE(rec->operation.done());
    EXPECT_FALSE(rec->operation.has_error()) << rec->operation.error().message();
  }
}

}  // namespace
}  // namespace mdb::ops
