// Long-running work behind the API: every mutating RPC becomes an Operation that is persisted in
// the catalog, run on a bounded worker pool, and finished with a response or an error.
// Operations described as data (a request a TaskExecutor runs) are queued in the catalog and
// claimed by whichever instance has a free worker first, so work spreads over instances.
// Several instances may share the catalog: each operation row names the instance running it and
// a lease that instance's heartbeat renews (storing the progress with it, and picking up a
// cancel asked on any instance); an instance that stops renewing (killed, cut off) has its
// operations ended as ABORTED by a survivor once the lease ran out (docs/deployment.md).
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
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catalog/catalog.h"
#include "google/protobuf/any.pb.h"
#include "ops/operation_metadata.h"

namespace mdb::ops {

using Operation = ::yandex::cloud::operation::Operation;

// Set when the operation is cancelled; long work checks it between steps and then returns
// absl::CancelledError after removing its partial data.
using CancelFlag = std::atomic<bool>;
// The error of an operation cancelled before its work saw the cancel (nothing of it ran).
inline constexpr absl::string_view kCancelledByRequest = "operation cancelled by request";

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
  // freezes the last value read, and ends a stall watch (the work is past what it watched).
  void SetDoneSource(std::function<int64_t()> source) {
    std::lock_guard<std::mutex> lock(mu_);
    if (source_) done_ = source_();
    source_ = std::move(source);
    if (!source_) stall_limit_ = absl::InfiniteDuration();  // a new source needs a new watch
  }
  std::pair<int64_t, int64_t> Read() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {source_ ? source_() : done_, total_};
  }
  // Asks the runner to stop the operation (DEADLINE_EXCEEDED; its message `why`, how long, and
  // `setting`, what sets the limit) once the live source's `done` has not moved for `limit`:
  // work that waits on a peer which may stall, or trickle nothing useful, for good (a backup's
  // source database) is not held by it until someone cancels it. Until SetDoneSource(nullptr).
  void StopWhenStalled(absl::Duration limit, std::string why, std::string setting) {
    std::lock_guard<std::mutex> lock(mu_);
    stall_limit_ = limit;
    stall_why_ = std::move(why);
    stall_setting_ = std::move(setting);
    watched_since_ = absl::InfinitePast();
  }
  // The runner's look at `now` (its heartbeat): the stop's reason once `done` stayed put for the
  // limit (counted from the first look that saw its value), "" otherwise.
  std::string Stalled(absl::Time now);

 private:
  mutable std::mutex mu_;
  int64_t done_ = 0;
  int64_t total_ = 0;
  std::function<int64_t()> source_;
  absl::Duration stall_limit_ = absl::InfiniteDuration();
  std::string stall_why_;
  std::string stall_setting_;
  int64_t watched_done_ = 0;
  absl::Time watched_since_ = absl::InfinitePast();  // past: not looked at yet
};

// What the work of an operation is given: its cancellation flag and its progress.
struct TaskContext {
  const CancelFlag& cancelled;
  Progress& progress;
};

// The work of one operation. Returns the Operation.response (packed) or an error whose message a
// person can act on.
using Work = std::function<absl::StatusOr<google::protobuf::Any>(const TaskContext& task)>;

// Runs an operation from its stored request (ops/tasks.h): what lets any instance run it.
class TaskExecutor {
 public:
  virtual ~TaskExecutor() = default;
  virtual absl::StatusOr<google::protobuf::Any> Run(const std::string& request,
                                                    const TaskContext& task) = 0;
};

struct OperationSpec {
  std::string description;  // 0-256 characters, e.g. "Delete backup"
  std::string created_by;   // subject of the caller's token
  std::string folder_id;    // who may read the operation
  // The cluster it acts on (ClusterService.ListOperations); "" takes the metadata's cluster_id
  // (the delete metadata of some engines has none: their callers name it here).
  std::string cluster_id;
  google::protobuf::Any metadata;
};

struct RunnerOptions {
  std::string owner;                         // this instance's name (NewInstanceName())
  absl::Duration lease = absl::Seconds(30);  // renewed every third of it
  std::function<absl::Time()> now = [] { return absl::Now(); };
  // Runs queued operations; without one this runner claims none (Start with a request fails).
  TaskExecutor* executor = nullptr;
  // How often an idle runner looks for operations queued by other instances (its own Start
  // wakes it at once).
  absl::Duration claim_poll = absl::Seconds(1);
  // False: no claims until StartClaiming (a server finishing its start-up first).
  bool claim_at_start = true;
  // Called at every heartbeat, after the operations' renewals (Jobs::RenewClaims): what the
  // running work holds is renewed as long as the work runs, shutdown included.
  std::function<void()> on_beat;
  // Stop work whose lease could not be renewed for two thirds of it (several instances: a
  // survivor would end it at the lease's end). Alone on the catalog nobody would, and an outage
  // of the catalog should not end every operation.
  bool stop_when_cut_off = false;
};

// A name for this instance that no other (nor a restart of this one) has: host, pid, random.
std::string NewInstanceName();

// Thread-safe. Destruction waits for running work and leaves queued work unfinished in the
// catalog (a restarted service fails it with a clear error; see FailInterrupted).
class OperationRunner {
 public:
  OperationRunner(catalog::Catalog* catalog, int threads, RunnerOptions options = {});
  ~OperationRunner();

  // Persists a new operation (done=false), queues `work` here and returns the stored record.
  // Work only this instance can run: an instance that dies leaves it ABORTED.
  absl::StatusOr<Operation> Start(const OperationSpec& spec, Work work);
  // Persists a new operation with the request the executor runs, queued for any instance that
  // shares the catalog (this one included), and returns the stored record.
  absl::StatusOr<Operation> Start(const OperationSpec& spec, std::string request);

  // Claims no more queued operations (an orderly shutdown: others, or a restart, run them).
  void StopClaiming();
  void StartClaiming();

  // Requests cancellation: queued work is finished with CANCELLED at once, running work is told
  // through its CancelFlag; an operation another instance runs is marked in the catalog, and
  // its owner cancels it at its next heartbeat. FailedPrecondition if the operation is already
  // done, NotFound if there is none.
  absl::StatusOr<Operation> Cancel(const std::string& id);

  // Ends (ABORTED) the unfinished operations of other instances: with `all` (this process is
  // the catalog's only user, so they are a previous process's), every one; else those whose
  // lease ran out (the heartbeat does the same every beat). Returns how many it ended.
  absl::StatusOr<int> FailInterrupted(bool all = true);

  // One heartbeat now (tests; the runner's thread beats every third of the lease).
  void Heartbeat();

  const std::string& owner() const { return options_.owner; }

  // Blocks until no work is queued here or running, and no operation this runner queued waits
  // for its first look at the catalog (tests and orderly shutdown).
  void WaitIdle();
  // An orderly shutdown's wait: WaitIdle for up to `grace`, then every operation still running
  // here is stopped, to end ABORTED ("the service stopped ... start it again"; its partial data
  // removed, a Redis target detached, as on a cancel), and waited for; work queued here and not
  // started ends ABORTED too. A service manager's stop timeout (systemd's TimeoutStopSec) then
  // meets a process that cleaned up after itself, not one in the middle of a restore. Returns
  // how many operations it ended.
  int Drain(absl::Duration grace);

  // Progress (bytes done, total) of an operation running in this process.
  std::optional<std::pair<int64_t, int64_t>> ProgressOf(const std::string& id);

 private:
  struct Task {
    Operation operation;
    std::string folder_id;
    std::string request;  // claimed from the catalog's queue; empty for local work
    Work work;
    std::shared_ptr<CancelFlag> cancelled = std::make_shared<CancelFlag>(false);
    std::shared_ptr<Progress> progress = std::make_shared<Progress>();
    // When its lease was last renewed (or taken): an instance cut off from the catalog for a
    // whole lease stops the work, which a survivor is about to end (guarded by mu_).
    absl::Time renewed = absl::InfiniteFuture();
    // Set when stopped that way (why, without what to do): the operation ends ABORTED, or with
    // `abort_code` (a stall: DEADLINE_EXCEEDED).
    std::string abort_reason;
    absl::StatusCode abort_code = absl::StatusCode::kAborted;
  };
  // Nothing queued, running or being claimed (mu_ held).
  bool Idle() const { return queue_.empty() && running_.empty() && !claiming_ && !claim_wanted_; }
  void HeartbeatLoop();
  void LogProgress();  // with mu_ held
  // Stops the task if its progress stalled (Progress::StopWhenStalled) at `beat`.
  void StopIfStalled(Task& task, absl::Time beat);
  catalog::OperationRecord RecordOf(const Task& task) const;

  void WorkerLoop();
  // Takes the oldest queued operation of the catalog, if any (nullptr with none or an error).
  std::shared_ptr<Task> Claim();
  // Sets the task's operation to its end and writes it (Record).
  absl::Status Finish(Task& task, const absl::StatusOr<google::protobuf::Any>& result);
  absl::Status Record(const Task& task);
  // Writes the ends the catalog refused before (unrecorded_); those it refuses again stay.
  // False when the catalog could not be reached.
  bool RecordUnrecorded();

  catalog::Catalog* catalog_;
  RunnerOptions options_;
  absl::Time last_log_;
  // Since when (unix ns) the heartbeat reached the catalog without a failure.
  std::atomic<int64_t> catalog_ok_since_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  // Separate from cv_: a notify_one meant for a worker must never wake the logger instead.
  std::condition_variable log_cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  std::map<std::string, std::shared_ptr<Task>> running_;
  // Ended, but the catalog refused their end: written again at every heartbeat (a survivor
  // may end them ABORTED once their lease has run out; that end then stands).
  std::vector<std::shared_ptr<Task>> unrecorded_;
  bool stopping_ = false;
  // Claims: one worker at a time looks in the catalog (claiming_), one idle worker looks again
  // every claim_poll (polling_), woken early when this runner queued one (claim_wanted_); none
  // once claims_stopped_.
  bool claiming_ = false;
  bool polling_ = false;  // a worker waits claim_poll to look again
  bool claim_wanted_ = false;
  bool claims_stopped_ = false;
  bool claim_failed_ = false;  // logged once until a claim works again
  std::vector<std::thread> threads_;
  std::thread heartbeat_;
};

}  // namespace mdb::ops
