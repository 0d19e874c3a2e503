// The runner persists an operation before queuing it, at every heartbeat while it runs, and when
// it ends, so a client polling OperationService.Get sees the catalog's truth whichever instance
// answers.
#include "ops/operation_runner.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "common/time_util.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "ops/operation_metadata.h"

namespace mdb::ops {

std::string NewInstanceName() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, ":", getpid(), ":", common::NewId().substr(0, 8));
}

OperationRunner::OperationRunner(catalog::Catalog* catalog, int threads, RunnerOptions options)
    : catalog_(catalog), options_(std::move(options)) {
  if (options_.owner.empty()) options_.owner = NewInstanceName();
  claims_stopped_ = !options_.claim_at_start;
  last_log_ = options_.now();
  catalog_ok_since_ = absl::ToUnixNanos(last_log_);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { WorkerLoop(); });
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
}

catalog::OperationRecord OperationRunner::RecordOf(const Task& task) const {
  return {.operation = task.operation,
          .folder_id = task.folder_id,
          .owner = options_.owner,
          .lease_until = options_.now() + options_.lease};
}

std::optional<std::pair<int64_t, int64_t>> OperationRunner::ProgressOf(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = running_.find(id);
  if (it == running_.end()) return std::nullopt;
  return it->second->progress->Read();
}

void OperationRunner::HeartbeatLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    log_cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.lease / 3));
    if (stopping_) return;
    lock.unlock();
    Heartbeat();
    lock.lock();
    // Long operations say how far they are in the log every 10 seconds.
    if (options_.now() - last_log_ >= absl::Seconds(10)) {
      last_log_ = options_.now();
      LogProgress();
    }
  }
}

void OperationRunner::Heartbeat() {
  std::vector<std::shared_ptr<Task>> mine;
  std::vector<catalog::OperationRecord> records;
  {
    // The records are copied under the lock: Finish changes a task's operation under it too.
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, task] : running_) mine.push_back(task);
    for (const auto& task : queue_) mine.push_back(task);
    for (const auto& task : mine) records.push_back(RecordOf(*task));
  }
  const absl::Time beat = options_.now();
  bool catalog_failed = false;
  // 1. Renew the lease of each operation this instance has, with its progress.
  for (size_t i = 0; i < mine.size(); ++i) {
    catalog::OperationRecord& rec = records[i];
    if (rec.operation.done()) continue;  // being finished right now
    auto [done, total] = mine[i]->progress->Read();
    if (done > 0 || total > 0) SetProgress(&rec.operation, done, total);
    auto lease = catalog_->RenewOperation(rec);
    if (!lease.ok()) {
      catalog_failed = true;  // the catalog is away: tried again next beat
      if (!options_.stop_when_cut_off) continue;
      bool cut_off;
      {
        std::lock_guard<std::mutex> lock(mu_);
        // Two thirds of the lease without a renewal: at the lease's end a survivor may end it
        // (and another instance start a backup of the same cluster), so the work stops now,
        // one beat before, rather than race it. Its partial data is removed as on a cancel.
        // Work a person cancelled already ends CANCELLED, as they asked (not retried).
        cut_off = beat - mine[i]->renewed >= options_.lease * 2 / 3 &&
                  mine[i]->abort_reason.empty() && !mine[i]->operation.done() &&
                  !mine[i]->cancelled->load();
        if (cut_off) {
          mine[i]->abort_reason =
              absl::StrCat("this instance (", options_.owner, ") could not reach the catalog for ",
                           absl::FormatDuration(beat - mine[i]->renewed),
                           " and stopped the operation before its lease ran out");
        }
      }
      if (cut_off) {
        common::Log(common::LogLevel::kWarning, "operations",
                    absl::StrCat("operation ", rec.operation.id(), ": ", mine[i]->abort_reason,
                                 " (", lease.status().message(), ")"));
        (void)Cancel(rec.operation.id());
      }
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      mine[i]->renewed = beat;
    }
    if (!lease->held || lease->cancel_requested) {
      // Ended by a survivor (this instance was cut off past its lease), or cancelled from
      // another instance: stop the work. A queued one is dropped or finished as cancelled.
      bool still_here;
      {
        std::lock_guard<std::mutex> lock(mu_);
        still_here = !mine[i]->operation.done() &&  // not being finished right now
                     (running_.count(rec.operation.id()) > 0 ||
                      std::find(queue_.begin(), queue_.end(), mine[i]) != queue_.end());
      }
      if (!still_here) continue;  // it finished between the copy and the renewal
      if (!lease->held) {
        common::Log(common::LogLevel::kWarning, "operations",
                    absl::StrCat("operation ", rec.operation.id(),
                                 " was ended by another instance after its lease ran out; "
                                 "stopping it here"));
      }
      (void)Cancel(rec.operation.id());
    }
  }
  // After the renewals: a cancel asked on another instance, seen there, ends CANCELLED.
  for (const auto& task : mine) StopIfStalled(*task, beat);
  if (options_.on_beat) options_.on_beat();
  // Ends the catalog refused before: after the renewals, which running work depends on.
  if (!RecordUnrecorded()) catalog_failed = true;
  // 2. End the operations of instances that stopped renewing theirs, but only once this
  // instance has reached the catalog without a failure for a whole lease: after a catalog
  // outage every instance's leases look expired, and the first to come back must not end the
  // others' work before they had a beat to renew it.
  if (catalog_failed) catalog_ok_since_ = absl::ToUnixNanos(beat);
  if (beat - absl::FromUnixNanos(catalog_ok_since_) < options_.lease) return;
  absl::StatusOr<int> ended = FailInterrupted(/*all=*/false);
  if (!ended.ok()) {
    catalog_ok_since_ = absl::ToUnixNanos(options_.now());
    common::Log(common::LogLevel::kWarning, "operations",
                absl::StrCat("cannot look for operations of stopped instances: ",
                             ended.status().message()));
  }
}

void OperationRunner::LogProgress() {
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

OperationRunner::~OperationRunner() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  log_cv_.notify_all();
  for (auto& t : threads_) t.join();
  heartbeat_.join();
  RecordUnrecorded();  // a last try; an end still refused is failed by the next start
  for (const auto& task : unrecorded_) {
    common::Log(common::LogLevel::kError, "operations",
                absl::StrCat("operation ", task->operation.id(),
                             ": its end could not be recorded; the next start ends it ABORTED"));
  }
}

namespace {

Operation NewOperation(const OperationSpec& spec) {
  Operation op;
  op.set_id(common::NewId());
  op.set_description(spec.description);
  op.set_created_by(spec.created_by);
  *op.mutable_created_at() = common::ToProto(absl::Now());
  *op.mutable_modified_at() = op.created_at();
  *op.mutable_metadata() = spec.metadata;
  return op;
}

}  // namespace

absl::StatusOr<Operation> OperationRunner::Start(const OperationSpec& spec, std::string request) {
  if (!options_.executor) {
    return absl::FailedPreconditionError("this runner runs no queued operations");
  }
  // Queued: no owner, and a lease that never ends (instances of versions before queues end
  // expired operations; this one they leave alone).
  catalog::OperationRecord rec{.operation = NewOperation(spec),
                               .folder_id = spec.folder_id,
                               .lease_until = absl::InfiniteFuture(),
                               .request = std::move(request)};
  rec.cluster_id = spec.cluster_id.empty() ? ClusterOf(rec.operation) : spec.cluster_id;
  RETURN_IF_ERROR(catalog_->PutOperation(rec));
  {
    std::lock_guard<std::mutex> lock(mu_);
    claim_wanted_ = !claims_stopped_;  // stopped: another instance (or a restart) takes it
  }
  cv_.notify_all();
  return rec.operation;
}

void OperationRunner::StartClaiming() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    claims_stopped_ = false;
    claim_wanted_ = true;  // look at once (WaitIdle waits for that look)
  }
  cv_.notify_all();
}

void OperationRunner::StopClaiming() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    claims_stopped_ = true;
    claim_wanted_ = false;
  }
  idle_cv_.notify_all();
}

std::shared_ptr<OperationRunner::Task> OperationRunner::Claim() {
  auto claimed = catalog_->ClaimOperation(options_.owner, options_.now() + options_.lease);
  if (!claimed.ok()) {
    if (!std::exchange(claim_failed_, true)) {
      common::Log(common::LogLevel::kWarning, "operations",
                  absl::StrCat("cannot look for queued operations (trying again every ",
                               absl::FormatDuration(options_.claim_poll),
                               "): ", claimed.status().message()));
    }
    return nullptr;
  }
  claim_failed_ = false;
  if (!claimed->has_value()) return nullptr;
  catalog::OperationRecord& rec = **claimed;
  auto task = std::make_shared<Task>();
  task->operation = rec.operation;
  task->folder_id = rec.folder_id;
  task->renewed = options_.now();
  if (rec.cancel_requested) task->cancelled->store(true);  // asked before any worker had it
  task->request = std::move(rec.request);
  task->work = [executor = options_.executor, request = task->request](
                   const TaskContext& ctx) -> absl::StatusOr<google::protobuf::Any> {
    if (ctx.cancelled.load()) return absl::CancelledError(kCancelledByRequest);
    return executor->Run(request, ctx);
  };
  return task;
}

absl::StatusOr<Operation> OperationRunner::Start(const OperationSpec& spec, Work work) {
  auto task = std::make_shared<Task>();
  task->operation = NewOperation(spec);
  const Operation& op = task->operation;
  task->folder_id = spec.folder_id;
  task->work = std::move(work);
  task->renewed = options_.now();
  catalog::OperationRecord rec = RecordOf(*task);
  rec.cluster_id = spec.cluster_id.empty() ? ClusterOf(op) : spec.cluster_id;
  RETURN_IF_ERROR(catalog_->PutOperation(rec));
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
    // Queued in the catalog for any instance: ended here unless claimed meanwhile.
    ASSIGN_OR_RETURN(catalog::OperationRecord rec, catalog_->GetOperation(id));
    if (!rec.operation.done() && rec.owner.empty() && !rec.request.empty()) {
      Operation op = rec.operation;
      op.set_done(true);
      *op.mutable_modified_at() = common::ToProto(absl::Now());
      op.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kCancelled));
      op.mutable_error()->set_message(std::string(kCancelledByRequest));
      rec.operation = op;
      ASSIGN_OR_RETURN(bool written, catalog_->FinishOperation(rec));
      if (written) return op;
    }
    // Another instance's (or no longer running anywhere): its owner sees the request at its
    // next heartbeat.
    RETURN_IF_ERROR(catalog_->RequestCancel(id));
    ASSIGN_OR_RETURN(rec, catalog_->GetOperation(id));
    return rec.operation;
  }
  RETURN_IF_ERROR(Finish(*queued, absl::CancelledError(kCancelledByRequest)));
  idle_cv_.notify_all();
  return queued->operation;
}

absl::StatusOr<int> OperationRunner::FailInterrupted(bool all) {
  const absl::Time now = options_.now();
  ASSIGN_OR_RETURN(auto unfinished, catalog_->ListUnfinishedOperations());
  int ended = 0;
  for (auto& rec : unfinished) {
    // Queued operations (no owner, a request) wait for a claim: a restart runs them.
    const bool queued = rec.owner.empty() && !rec.request.empty();
    if (queued || rec.owner == options_.owner || (!all && rec.lease_until >= now)) {
      continue;
    }
    Operation& op = rec.operation;
    op.set_done(true);
    *op.mutable_modified_at() = common::ToProto(now);
    op.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kAborted));
    op.mutable_error()->set_message(
        all ? "the service restarted while this operation was running; a backup it had "
              "committed is listed, anything else it wrote is discarded: start it again if its "
              "result is not there"
            : absl::StrCat("the instance running this operation (", rec.owner,
                           ") stopped renewing its lease; a backup it had committed is listed, "
                           "anything else it wrote is discarded: start it again if its result "
                           "is not there"));
    // Only while the row is still the dead owner's, and (not `all`) still expired: a late
    // renewal or finish by its owner wins.
    ASSIGN_OR_RETURN(bool written, catalog_->FinishOperation(
                                       rec, all ? std::nullopt : std::optional<absl::Time>(now)));
    if (!written) continue;
    ++ended;
    common::Log(
        common::LogLevel::kWarning, "operations",
        absl::StrCat("operation ", op.id(), " (", op.description(), ") of ",
                     rec.owner.empty() ? "a previous process" : rec.owner, " ended as ABORTED"));
  }
  return ended;
}

void OperationRunner::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return Idle(); });
}

void OperationRunner::WorkerLoop() {
  for (;;) {
    std::shared_ptr<Task> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!task) {
        if (stopping_) return;
        if (!queue_.empty()) {
          task = std::move(queue_.front());
          queue_.pop_front();
          break;
        }
        if (!options_.executor || claims_stopped_ || claiming_) {
          cv_.wait(lock);  // local work, or this worker's turn to look in the catalog
          continue;
        }
        // This worker looks for queued operations; the others wait for local work or for it
        // to hand the turn on (so a runner never claims more than it has idle workers).
        claiming_ = true;
        claim_wanted_ = false;
        lock.unlock();
        task = Claim();
        lock.lock();
        if (task && (stopping_ || claims_stopped_)) {
          // Claimed while shutting down: handed back to the queue for another instance (a
          // conditional write: retried after a lost reply it cannot re-queue a row another
          // instance claimed meanwhile).
          const std::string id = task->operation.id();
          lock.unlock();
          auto back = catalog_->ReleaseOperation(id, options_.owner);
          if (!back.ok() || !*back) {
            common::Log(common::LogLevel::kWarning, "operations",
                        absl::StrCat("operation ", id,
                                     " was claimed while stopping and could not be handed back (",
                                     back.ok() ? "no longer ours" : back.status().message(),
                                     "); it ends ABORTED after the lease"));
          }
          lock.lock();
          task = nullptr;
        }
        claiming_ = false;
        if (task) {
          // The next idle worker takes the turn (all woken: the timed poller, whose wait
          // condition is false, must not be the only one to get the notice).
          cv_.notify_all();
          break;
        }
        idle_cv_.notify_all();
        if (claim_wanted_) continue;  // queued here while this worker looked
        if (polling_) {
          cv_.wait(lock);  // one idle worker looks again every claim_poll: that one
          continue;
        }
        polling_ = true;
        cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.claim_poll),
                     [this] { return stopping_ || !queue_.empty() || claim_wanted_; });
        polling_ = false;
      }
      running_[task->operation.id()] = task;
    }
    const std::string cluster = ClusterOf(task->operation);
    common::Log(common::LogLevel::kInfo, "operations",
                absl::StrCat("operation ", task->operation.id(), " (",
                             task->operation.description(), ") started"),
                {.cluster = cluster, .operation = task->operation.id()});
    absl::StatusOr<google::protobuf::Any> result =
        task->work(TaskContext{.cancelled = *task->cancelled, .progress = *task->progress});
    absl::Status st = Finish(*task, result);
    std::unique_lock<std::mutex> lock(mu_);
    if (!st.ok()) {
      // The catalog refused the final write: written again at every heartbeat (the operation
      // would otherwise stay RUNNING there until a restart). Its lease is not renewed meanwhile:
      // past it a survivor ends it ABORTED, and that end stands. The work is dropped.
      common::Log(common::LogLevel::kError, "operations",
                  absl::StrFormat("operation %s: cannot record its end (%s); trying again every "
                                  "%s",
                                  task->operation.id().c_str(), std::string(st.message()).c_str(),
                                  absl::FormatDuration(options_.lease / 3).c_str()));
      task->work = nullptr;
      task->request.clear();
      unrecorded_.push_back(task);
    }
    running_.erase(task->operation.id());
    const bool idle = running_.empty();
    lock.unlock();
    idle_cv_.notify_all();
    // Freed buffers back to the kernel while no other operation uses the arenas (it locks them):
    // else each stacks its peak on what those before left (bench/greenplum: 93 -> 72 MB).
    if (idle) malloc_trim(0);
  }
}

}  // namespace mdb::ops
