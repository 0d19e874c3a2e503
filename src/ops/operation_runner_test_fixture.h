// The operation runner tests' fixtures: a fresh SQLite catalog per test, several instances on
// it (runners with short leases), and a catalog an instance is cut off from.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/forwarding_catalog.h"
#include "google/protobuf/empty.pb.h"
#include "ops/operation_runner.h"
#include "yandex/cloud/mdb/redis/v1/cluster_service.pb.h"

namespace mdb::ops::runner_fixture {

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

}  // namespace mdb::ops::runner_fixture
