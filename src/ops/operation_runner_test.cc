#include "ops/operation_runner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <thread>

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

TEST_F(OperationRunnerTest, FailsOperationsLeftByAPreviousProcess) {
  catalog::OperationRecord left;
  left.folder_id = "f";
  left.operation.set_id("left-behind");
  ASSERT_TRUE(catalog_->PutOperation(left).ok());
  OperationRunner runner(catalog_.get(), 1);
  EXPECT_EQ(*runner.FailInterrupted(), 1);
  auto rec = catalog_->GetOperation("left-behind");
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->operation.done());
  EXPECT_EQ(rec->operation.error().code(), static_cast<int>(absl::StatusCode::kAborted));
  EXPECT_TRUE(catalog_->ListUnfinishedOperations()->empty());
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

}  // namespace
}  // namespace mdb::ops
