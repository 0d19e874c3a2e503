// Several instances on one catalog: progress and cancels across them, leases, survivors, and
// an instance cut off from the catalog.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "ops/operation_runner.h"
#include "ops/operation_runner_test_fixture.h"

namespace mdb::ops {
namespace {

using runner_fixture::CutOffCatalog;
using runner_fixture::InstancesTest;
using runner_fixture::RecordingExecutor;

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

// Work a person cancelled, slow to stop (it removes its partial data), while the catalog is
// away past the cut-off: it still ends CANCELLED, as asked, and is not relabelled ABORTED (which
// the scheduler would retry).
TEST_F(InstancesTest, TheCutOffLeavesWorkAPersonCancelledCancelled) {
  CutOffCatalog cut(catalog_.get());
  RunnerOptions options = Instance("a");
  options.stop_when_cut_off = true;
  OperationRunner a(&cut, 1, options);
  std::atomic<bool> started{false}, stopping{false}, release{false};
  auto op = a.Start(Spec(), [&](const TaskContext& task) -> absl::StatusOr<google::protobuf::Any> {
    started = true;
    for (int i = 0; i < 1000 && !task.cancelled.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stopping = true;
    for (int i = 0; i < 1000 && !release.load(); ++i) {  // at most 5 s: a failing test ends
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return absl::CancelledError("cancelled; partial data removed");
  });
  ASSERT_TRUE(op.ok());
  WaitFor([&] { return started.load(); });
  ASSERT_TRUE(a.Cancel(op->id()).ok());
  WaitFor([&] { return stopping.load(); });
  cut.down = true;  // renewals fail from now on; the end is still written
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // two leases: past the cut-off
  release = true;
  a.WaitIdle();
  auto rec = catalog_->GetOperation(op->id());
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_TRUE(rec->operation.done());
  EXPECT_EQ(rec->operation.error().code(), static_cast<int>(absl::StatusCode::kCancelled))
      << rec->operation.error().message();
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
