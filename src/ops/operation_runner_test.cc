#include "ops/operation_runner.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "google/protobuf/empty.pb.h"

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

}  // namespace
}  // namespace mdb::ops
