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

// The work of one operation. Returns the Operation.response (packed) or an error whose message a
// person can act on.
using Work = std::function<absl::StatusOr<google::protobuf::Any>(const CancelFlag& cancelled)>;

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

 private:
  struct Task {
    Operation operation;
    std::string folder_id;
    Work work;
    std::shared_ptr<CancelFlag> cancelled = std::make_shared<CancelFlag>(false);
  };

  void WorkerLoop();
  absl::Status Finish(Task& task, const absl::StatusOr<google::protobuf::Any>& result);

  catalog::Catalog* catalog_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  std::map<std::string, std::shared_ptr<Task>> running_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mdb::ops
