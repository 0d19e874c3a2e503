#include "ops/operation_runner.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "catalog/forwarding_catalog.h"
#include "common/text.h"
#include "google/protobuf/empty.pb.h"
#include "ops/operation_runner_test_fixture.h"
#include "yandex/cloud/mdb/redis/v1/cluster_service.pb.h"

namespace mdb::ops {
namespace {

using runner_fixture::OperationRunnerTest;
using runner_fixture::RecordingExecutor;

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

// A source database's error text is not trusted: stored as valid UTF-8, cut to a few KiB (else
// protobuf would not read the record back, and a 20 MB message would be in every listing).
TEST_F(OperationRunnerTest, AnErrorFromOutsideIsStoredReadableAndBounded) {
  OperationRunner runner(catalog_.get(), 2);
  const std::string hostile =
      "boom\xff\xfe\nmdb-backupd: forged\x1b]0;t\x07" + std::string(1 << 20, 'x');
  auto bad = runner.Start({.description = "bad", .folder_id = "f"},
                          [&](const TaskContext&) -> absl::StatusOr<google::protobuf::Any> {
                            return absl::UnavailableError(hostile);
                          });
  ASSERT_TRUE(bad.ok());
  runner.WaitIdle();
  auto rec = catalog_->GetOperation(bad->id());
  ASSERT_TRUE(rec.ok()) << rec.status();
  const std::string& m = rec->operation.error().message();
  EXPECT_LE(m.size(), common::kMaxStoredMessageBytes + 16);
  EXPECT_TRUE(absl::StartsWith(m, "boom\\xFF\\xFE\nmdb-backupd: forged\x1b]0;t\x07x"))
      << m.substr(0, 60);
  EXPECT_TRUE(absl::EndsWith(m, "x... (cut)")) << m.substr(m.size() - 60);
  std::string out;
  EXPECT_TRUE(rec->operation.SerializeToString(&out));
  yandex::cloud::operation::Operation back;
  EXPECT_TRUE(back.ParseFromString(out));
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

}  // namespace
}  // namespace mdb::ops
