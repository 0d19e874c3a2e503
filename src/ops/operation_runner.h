// Long-running work behind the API: every mutating RPC becomes an Operation that is persisted in
// the catalog, run on a bounded worker pool, and finished with a response or an error.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "google/protobuf/any.pb.h"

namespace mdb::ops {

using Operation = ::yandex::cloud::operation::Operation;

// Set when the operation is cancelled; long work checks it between steps and then returns
// absl::CancelledError after removing its partial data.
using CancelFlag = std::atomic<bool>;

// How far an operation has got, in bytes; total 0 means "not known yet". Thread-safe.
class Progress {
 public:
  void SetTotal(int64_t total) {
    std::lock_guard<std::mutex> lock(mu_);
    total_ = total;
  }
  void SetDone(int64_t done) {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = done;
  }
  // A live source of `done` (e.g. the bytes a backup writer has read), read on demand; nullptr
  // freezes the last value read.
  void SetDoneSource(std::function<int64_t()> source) {
    std::lock_guard<std::mutex> lock(mu_);
    if (source_) done_ = source_();
    source_ = std::move(source);
  }
  std::pair<int64_t, int64_t> Read() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {source_ ? source_() : done_, total_};
  }

 private:
  mutable std::mutex mu_;
  int64_t done_ = 0;
  int64_t total_ = 0;
  std::function<int64_t()> source_;
};

// What the work of an operation is given: its cancellation flag and its progress.
struct TaskContext {
  const CancelFlag& cancelled;
  Progress& progress;
};

// The work of one operation. Returns the Operation.response (packed) or an error whose message a
// person can act on.
using Work = std::function<absl::StatusOr<google::protobuf::Any>(const TaskContext& task)>;

struct OperationSpec {
  std::string description;  // 0-256 characters, e.g. "Delete backup"
  std::string created_by;   // subject of the caller's token
  std::string folder_id;    // who may read the operation
  google::protobuf::Any metadata;
};

// Thread-safe. Destruction waits for running work and leaves queued work unfinished in the
// catalog (a restarted service fails it with a clear error; see FailInterrupted).
class OperationRunner {
 public:
  OperationRunner(catalog::Catalog* catalog, int threads);
  ~OperationRunner();

  // Persists a new operation (done=false), queues `work` and returns the stored record.
  absl::StatusOr<Operation> Start(const OperationSpec& spec, Work work);

  // Requests cancellation: queued work is finished with CANCELLED at once, running work is told
  // through its CancelFlag. FailedPrecondition if the operation is already done, NotFound if this
  // process does not run it.
  absl::StatusOr<Operation> Cancel(const std::string& id);

  // Fails every operation that a previous process left unfinished. Called once at start.
  // Returns how many there were.
  absl::StatusOr<int> FailInterrupted();

  // Blocks until no work is queued or running (tests and orderly shutdown).
  void WaitIdle();

  // Progress (bytes done, total) of an operation running in this process.
  std::optional<std::pair<int64_t, int64_t>> ProgressOf(const std::string& id);

 private:
  struct Task {
    Operation operation;
    std::string folder_id;
    Work work;
    std::shared_ptr<CancelFlag> cancelled = std::make_shared<CancelFlag>(false);
    std::shared_ptr<Progress> progress = std::make_shared<Progress>();
  };
  void LogProgress();

  void WorkerLoop();
  absl::Status Finish(Task& task, const absl::StatusOr<google::protobuf::Any>& result);

  catalog::Catalog* catalog_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  // Separate from cv_: a notify_one meant for a worker must never wake the logger instead.
  std::condition_variable log_cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  std::map<std::string, std::shared_ptr<Task>> running_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::thread progress_logger_;
};

}  // namespace mdb::ops
