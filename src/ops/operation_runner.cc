// The runner persists an operation before queuing it and again when it ends, so a client polling
// OperationService.Get always sees the catalog's truth, whichever instance answers.
#include "ops/operation_runner.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "common/time_util.h"

namespace mdb::ops {

OperationRunner::OperationRunner(catalog::Catalog* catalog, int threads) : catalog_(catalog) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { WorkerLoop(); });
  progress_logger_ = std::thread([this] { LogProgress(); });
}

std::optional<std::pair<int64_t, int64_t>> OperationRunner::ProgressOf(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = running_.find(id);
  if (it == running_.end()) return std::nullopt;
  return it->second->progress->Read();
}

// Long operations say how far they are in the log every 10 seconds.
void OperationRunner::LogProgress() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    log_cv_.wait_for(lock, std::chrono::seconds(10));
    if (stopping_) return;
    for (const auto& [id, task] : running_) {
      auto [done, total] = task->progress->Read();
      if (done == 0) continue;
      if (total > 0) {
        common::Log(common::LogLevel::kInfo, "operations",
                    absl::StrFormat("operation %s (%s): %.1f of %.1f MB (%.0f%%)", id.c_str(),
                                    task->operation.description().c_str(), done / 1e6, total / 1e6,
                                    100.0 * done / total));
      } else {
        common::Log(common::LogLevel::kInfo, "operations",
                    absl::StrFormat("operation %s (%s): %.1f MB", id.c_str(),
                                    task->operation.description().c_str(), done / 1e6));
      }
    }
  }
}

OperationRunner::~OperationRunner() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  log_cv_.notify_all();
  for (auto& t : threads_) t.join();
  progress_logger_.join();
}

absl::StatusOr<Operation> OperationRunner::Start(const OperationSpec& spec, Work work) {
  auto task = std::make_shared<Task>();
  Operation& op = task->operation;
  op.set_id(common::NewId());
  op.set_description(spec.description);
  op.set_created_by(spec.created_by);
  *op.mutable_created_at() = common::ToProto(absl::Now());
  *op.mutable_modified_at() = op.created_at();
  *op.mutable_metadata() = spec.metadata;
  task->folder_id = spec.folder_id;
  task->work = std::move(work);
  RETURN_IF_ERROR(catalog_->PutOperation({.operation = op, .folder_id = spec.folder_id}));
  Operation copy = op;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return copy;
}

absl::StatusOr<Operation> OperationRunner::Cancel(const std::string& id) {
  std::shared_ptr<Task> queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = running_.find(id); it != running_.end()) {
      it->second->cancelled->store(true);
      return it->second->operation;
    }
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if ((*it)->operation.id() == id) {
        queued = *it;
        queue_.erase(it);
        break;
      }
    }
  }
  if (!queued) {
    return absl::FailedPreconditionError(
        absl::StrCat("operation '", id, "' is not running here and cannot be cancelled"));
  }
  RETURN_IF_ERROR(Finish(*queued, absl::CancelledError("operation cancelled by request")));
  idle_cv_.notify_all();
  return queued->operation;
}

absl::StatusOr<int> OperationRunner::FailInterrupted() {
  ASSIGN_OR_RETURN(auto unfinished, catalog_->ListUnfinishedOperations());
  for (auto& rec : unfinished) {
    Task task{.operation = rec.operation, .folder_id = rec.folder_id, .work = nullptr};
    RETURN_IF_ERROR(
        Finish(task, absl::AbortedError(
                         "the service restarted while this operation was running; a backup it had "
                         "committed is listed, anything else it wrote is discarded: start it "
                         "again if its result is not there")));
  }
  return static_cast<int>(unfinished.size());
}

void OperationRunner::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && running_.empty(); });
}

void OperationRunner::WorkerLoop() {
  for (;;) {
    std::shared_ptr<Task> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      running_[task->operation.id()] = task;
    }
    absl::StatusOr<google::protobuf::Any> result =
        task->work(TaskContext{.cancelled = *task->cancelled, .progress = *task->progress});
    absl::Status st = Finish(*task, result);
    if (!st.ok()) {
      // The catalog refused the final write; the operation stays unfinished there and the next
      // start fails it. Nothing else can be done from here.
      common::Log(common::LogLevel::kError, "operations",
                  absl::StrFormat("operation %s: cannot record its end: %s",
                                  task->operation.id().c_str(), std::string(st.message()).c_str()));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.erase(task->operation.id());
    }
    idle_cv_.notify_all();
  }
}

absl::Status OperationRunner::Finish(Task& task,
                                     const absl::StatusOr<google::protobuf::Any>& result) {
  Operation& op = task.operation;
  op.set_done(true);
  *op.mutable_modified_at() = common::ToProto(absl::Now());
  if (result.ok()) {
    *op.mutable_response() = *result;
  } else {
    op.mutable_error()->set_code(static_cast<int>(result.status().code()));
    op.mutable_error()->set_message(std::string(result.status().message()));
  }
  return catalog_->PutOperation({.operation = op, .folder_id = task.folder_id});
}

}  // namespace mdb::ops
