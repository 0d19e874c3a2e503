// How an operation ends: its outcome built from the work's result, written to the catalog, and
// written again at every heartbeat while the catalog refuses it.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/text.h"
#include "common/time_util.h"
#include "ops/operation_metadata.h"
#include "ops/operation_runner.h"

namespace mdb::ops {

std::string Progress::Stalled(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!source_ || stall_limit_ == absl::InfiniteDuration()) return "";
  const int64_t done = source_();
  if (watched_since_ == absl::InfinitePast() || done != watched_done_) {
    watched_done_ = done;
    watched_since_ = now;
    return "";
  }
  if (now - watched_since_ < stall_limit_) return "";
  return absl::StrCat(stall_why_, " for ",
                      absl::FormatDuration(absl::Trunc(now - watched_since_, absl::Seconds(1))),
                      " (", done, " bytes in all; ", stall_setting_, ")");
}

void OperationRunner::StopIfStalled(Task& task, absl::Time beat) {
  std::string why = task.progress->Stalled(beat);
  if (why.empty()) return;
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Ended, or stopped for another reason (a person's cancel ends CANCELLED, as they asked).
    if (!task.abort_reason.empty() || task.operation.done() || task.cancelled->load()) return;
    task.abort_reason = why;
    task.abort_code = absl::StatusCode::kDeadlineExceeded;
    task.cancelled->store(true);  // told here: a Cancel call could miss work ending meanwhile
    id = task.operation.id();
  }
  common::Log(common::LogLevel::kWarning, "operations",
              absl::StrCat("operation ", id, ": ", why, "; stopping it"));
}

int OperationRunner::Drain(absl::Duration grace) {
  const std::string reason =
      absl::StrCat("the service (", options_.owner,
                   ") was stopping and stopped the operation after ", absl::FormatDuration(grace));
  std::vector<std::shared_ptr<Task>> stopped, unstarted;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (idle_cv_.wait_for(lock, absl::ToChronoMilliseconds(grace), [this] { return Idle(); })) {
      return 0;
    }
    for (auto& [id, task] : running_) {
      // Cancelled already (by a caller, or cut off): it ends as that says, not as a shutdown.
      if (!task->abort_reason.empty() || task->operation.done() || task->cancelled->load()) {
        continue;
      }
      task->abort_reason = reason;
      task->cancelled->store(true);
      stopped.push_back(task);
    }
    // Work only this instance could run, not started yet (claimed work was handed back when
    // claims stopped): ended as it would be by this process's death, but now.
    unstarted.assign(queue_.begin(), queue_.end());
    queue_.clear();
    for (auto& task : unstarted) task->abort_reason = reason;
  }
  for (const auto& task : stopped) {
    common::Log(common::LogLevel::kWarning, "operations",
                absl::StrCat("shutting down: operation ", task->operation.id(), " (",
                             task->operation.description(), ") still ran after ",
                             absl::FormatDuration(grace),
                             "; told to stop: it ends ABORTED unless its work ends first"));
  }
  for (const auto& task : unstarted) (void)Finish(*task, absl::AbortedError(reason));
  idle_cv_.notify_all();
  WaitIdle();
  return static_cast<int>(stopped.size() + unstarted.size());
}

absl::Status OperationRunner::Finish(Task& task,
                                     const absl::StatusOr<google::protobuf::Any>& result) {
  Operation op;
  std::string abort_reason;
  absl::StatusCode abort_code;
  {
    std::lock_guard<std::mutex> lock(mu_);
    op = task.operation;
    abort_reason = task.abort_reason;
    abort_code = task.abort_code;
  }
  op.set_done(true);
  *op.mutable_modified_at() = common::ToProto(absl::Now());
  if (!abort_reason.empty() && !result.ok()) {
    // ABORTED says why it stopped; the work's own message says what it left behind (a restore's
    // partial target to empty before the rerun), so it comes before what to do.
    std::string message = abort_reason;
    const absl::string_view own = result.status().message();
    if (!own.empty() && own != abort_reason && own != kCancelledByRequest) {
      absl::StrAppend(&message, ". It reported: ", own, ". Then start it again");
    } else {
      absl::StrAppend(&message, "; start it again");
    }
    op.mutable_error()->set_code(static_cast<int>(abort_code));
    op.mutable_error()->set_message(common::CleanUtf8(message, common::kMaxStoredMessageBytes));
  } else if (result.ok()) {
    *op.mutable_response() = *result;
  } else {
    op.mutable_error()->set_code(static_cast<int>(result.status().code()));
    // A source's error text, stored: protobuf would not read the record back if it were not
    // UTF-8 (the operation, and every listing of its cluster's operations, would fail).
    op.mutable_error()->set_message(
        common::CleanUtf8(result.status().message(), common::kMaxStoredMessageBytes));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    task.operation = op;
  }
  std::string outcome = "done";
  if (op.has_error()) {
    outcome = absl::StrCat(
        "failed: ", absl::StatusCodeToString(static_cast<absl::StatusCode>(op.error().code())),
        ": ", op.error().message());
  }
  const std::string cluster = ClusterOf(op);
  common::Log(op.has_error() ? common::LogLevel::kWarning : common::LogLevel::kInfo, "operations",
              absl::StrCat("operation ", op.id(), " (", op.description(), ") ", outcome),
              {.cluster = cluster, .operation = op.id()});
  return Record(task);
}

absl::Status OperationRunner::Record(const Task& task) {
  catalog::OperationRecord rec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rec = {.operation = task.operation, .folder_id = task.folder_id, .owner = options_.owner};
  }
  const Operation& op = rec.operation;
  // Conditional on this instance still owning the row: a retry after a lost reply, or after a
  // survivor ended it, cannot overwrite what is there.
  ASSIGN_OR_RETURN(bool written, catalog_->FinishOperation(rec));
  if (!written) {
    // A survivor ended it after this instance's lease ran out: its ABORTED stands.
    common::Log(common::LogLevel::kWarning, "operations",
                absl::StrCat("operation ", op.id(), " ended here after another instance had ",
                             "ended it (lease ran out); its end there stands"));
  }
  return absl::OkStatus();
}

bool OperationRunner::RecordUnrecorded() {
  std::vector<std::shared_ptr<Task>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending.swap(unrecorded_);
  }
  bool reached = true;
  for (auto& task : pending) {
    absl::Status recorded = Record(*task);
    if (recorded.ok()) {
      common::Log(common::LogLevel::kInfo, "operations",
                  absl::StrCat("operation ", task->operation.id(), ": its end is recorded now"));
      continue;
    }
    // Only an unreachable catalog counts against this instance's survivor duty (a write refused
    // for good would otherwise end that duty for good).
    if (absl::IsUnavailable(recorded) || absl::IsDeadlineExceeded(recorded)) reached = false;
    std::lock_guard<std::mutex> lock(mu_);
    unrecorded_.push_back(std::move(task));
  }
  return reached;
}

}  // namespace mdb::ops
