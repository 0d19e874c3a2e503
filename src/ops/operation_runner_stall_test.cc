// Work that asks to be stopped when its progress stalls (Progress::StopWhenStalled: a backup
// whose source database sends nothing) ends DEADLINE_EXCEEDED at the heartbeat that finds it
// stalled for the limit, and not before; a person's cancel still ends CANCELLED; the watch ends
// with the work's live source.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "ops/operation_runner.h"
#include "ops/operation_runner_test_fixture.h"

namespace mdb::ops {
namespace {

using runner_fixture::OperationRunnerTest;

class StallTest : public OperationRunnerTest {
 protected:
  // A clock the test moves; a lease of an hour, so that only the test's Heartbeat calls look.
  RunnerOptions Options() {
    return {.owner = "mdb-a", .lease = absl::Hours(1), .now = [this] {
              return absl::FromUnixSeconds(0) + absl::Seconds(clock_.load());
            }};
  }
  // Work whose live progress is `read_`, watched for a minute's stall; with `unwatch`, the
  // watch ends (its source is dropped) before it waits. It waits until cancelled and not held
  // (or 10 s).
  Work Watched(bool unwatch) {
    return [this, unwatch](const TaskContext& task) -> absl::StatusOr<google::protobuf::Any> {
      task.progress.SetDoneSource([this] { return read_.load(); });
      task.progress.StopWhenStalled(absl::Minutes(1), "the backup read no data from 'c1'",
                                    "the cluster's stall_timeout_seconds is 60");
      flag_ = &task.cancelled;
      if (unwatch) task.progress.SetDoneSource(nullptr);
      started_ = true;
      absl::Time give_up = absl::Now() + absl::Seconds(10);
      while (!task.cancelled.load() || held_.load()) {
        if (absl::Now() > give_up) return absl::InternalError("never stopped");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      return absl::CancelledError("cancelled while waiting for redis");
    };
  }
  void Beat(OperationRunner& runner, int seconds) {
    clock_ += seconds;
    runner.Heartbeat();
  }
  Operation Ended(OperationRunner& runner, const std::string& id) {
    runner.WaitIdle();
    return catalog_->GetOperation(id)->operation;
  }
  std::atomic<int64_t> clock_{0}, read_{0};
  std::atomic<bool> started_{false};
  std::atomic<bool> held_{false};  // the work does not end, even when told, while set
  std::atomic<const CancelFlag*> flag_{nullptr};  // the work's: set synchronously by a stop
  bool Told() const { return flag_.load()->load(); }
};

TEST_F(StallTest, AStalledBackupEndsDeadlineExceededOnceItsLimitHasPassed) {
  OperationRunner runner(catalog_.get(), 1, Options());
  auto op = runner.Start({.folder_id = "f"}, Watched(false));
  ASSERT_TRUE(op.ok()) << op.status();
  while (!started_) std::this_thread::yield();
  // Data keeps coming, slowly: two minutes of beats, each seeing a little more.
  for (int i = 0; i < 4; ++i) {
    read_ += 8192;
    Beat(runner, 30);
  }
  EXPECT_FALSE(Told());
  Beat(runner, 59);  // a minute less a second without data: not yet
  EXPECT_FALSE(Told());
  Beat(runner, 1);
  EXPECT_TRUE(Told());
  Operation ended = Ended(runner, op->id());
  ASSERT_TRUE(ended.done());
  EXPECT_EQ(ended.error().code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(ended.error().message(),
            "the backup read no data from 'c1' for 1m (32768 bytes in all; the cluster's "
            "stall_timeout_seconds is 60). It reported: cancelled while waiting for redis. Then "
            "start it again");
}

TEST_F(StallTest, APersonsCancelOfAStalledBackupEndsCancelled) {
  OperationRunner runner(catalog_.get(), 1, Options());
  held_ = true;  // still running at the stalled beat, though told to stop
  auto op = runner.Start({.folder_id = "f"}, Watched(false));
  ASSERT_TRUE(op.ok()) << op.status();
  while (!started_) std::this_thread::yield();
  Beat(runner, 1);
  ASSERT_TRUE(runner.Cancel(op->id()).ok());
  Beat(runner, 3600);  // stalled for an hour, but cancelled first
  held_ = false;
  Operation ended = Ended(runner, op->id());
  EXPECT_EQ(ended.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(ended.error().message(), "cancelled while waiting for redis");
}

// A cancel asked on another instance reaches this one in the heartbeat's renewal: that beat's
// stall does not turn it into a DEADLINE_EXCEEDED (which the scheduler would retry).
TEST_F(StallTest, ACancelFromAnotherInstanceOfAStalledBackupEndsCancelled) {
  OperationRunner runner(catalog_.get(), 1, Options());
  auto op = runner.Start({.folder_id = "f"}, Watched(false));
  ASSERT_TRUE(op.ok()) << op.status();
  while (!started_) std::this_thread::yield();
  Beat(runner, 1);
  ASSERT_TRUE(catalog_->RequestCancel(op->id()).ok());
  Beat(runner, 3600);
  Operation ended = Ended(runner, op->id());
  EXPECT_EQ(ended.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
}

TEST_F(StallTest, TheWatchEndsWithTheLiveSource) {
  OperationRunner runner(catalog_.get(), 1, Options());
  auto op = runner.Start({.folder_id = "f"}, Watched(true));  // e.g. a backup committing
  ASSERT_TRUE(op.ok()) << op.status();
  while (!started_) std::this_thread::yield();
  Beat(runner, 1);
  Beat(runner, 3600);
  Beat(runner, 3600);
  EXPECT_FALSE(Told());
  ASSERT_TRUE(runner.Cancel(op->id()).ok());
  EXPECT_EQ(Ended(runner, op->id()).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
}

}  // namespace
}  // namespace mdb::ops
