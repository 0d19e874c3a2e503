// The daily schedule: each cluster gets one AUTOMATED backup a day, starting at its backup window
// (config `backup_window_start`, UTC) plus a per-cluster jitter, so clusters sharing a window do
// not all start at once. A window missed while the service was down is caught up once at start;
// a cluster with no AUTOMATED backup yet gets its first one at its next window. A backup that
// fails (the source restarting, the bucket away) is tried again later the same day, a few times
// with growing pauses, as managed databases do: a passing fault must not cost a day's backup.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/periodic.h"

namespace mdb::ops {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override;
};

// The start of the most recent window (at `window_minutes` after midnight UTC, plus `jitter`) that
// began at or before `now`.
absl::Time LastWindow(absl::Time now, int window_minutes, absl::Duration jitter);

// A stable jitter in [0, max) for a cluster: the same across restarts and instances.
absl::Duration JitterFor(const std::string& cluster_id, absl::Duration max);

// The delay before the `failed`-th retry of a window's failed backup (failed >= 1): `first`,
// doubling each time.
absl::Duration RetryDelay(int failed, absl::Duration first);

class Scheduler {
 public:
  // What a trigger did with a window's AUTOMATED backup.
  struct Triggered {
    // False if it could not start (e.g. one is already running): tried again at the next tick.
    bool started = false;
    // The operation started here, whose outcome the scheduler follows; "" when another instance
    // has this window's backup (started, and that instance's to follow).
    std::string operation_id;
    // Not started: why, for the log ("" when the trigger logged it itself). Logged when it first
    // happens, when the reason changes and every kRefusalRelog while it lasts, not at every tick.
    std::string refused;
  };
  static constexpr absl::Duration kRefusalRelog = absl::Minutes(10);
  // Starts the AUTOMATED backup of the cluster for the window that began at `window`.
  using Trigger = std::function<Triggered(const common::ClusterConfig& cluster, absl::Time window)>;
  // How an operation a trigger started ended. kFailed only for an error other than a
  // cancellation (a person cancelled it: not retried). kUnknown: it, or what it made, cannot be
  // read now: asked again at the next tick, and given up (logged) past the retries' time.
  struct Outcome {
    enum State { kRunning, kDone, kFailed, kUnknown } state = kRunning;
    std::string error;  // kFailed: the operation's error message; kUnknown: why it is unknown
  };
  using OutcomeOf = std::function<Outcome(const std::string& operation_id)>;
  // When the cluster's newest AUTOMATED backup started (InfinitePast if none), read once per
  // cluster from the catalog at start. An error (the catalog away): asked again at the next tick;
  // taken as "none", it would skip the catch-up of a window missed while the service was down.
  using LastRun = std::function<absl::StatusOr<absl::Time>(const std::string& cluster_id)>;
  using ConfigSource = std::function<std::shared_ptr<const common::Config>()>;

  struct Options {
    absl::Duration max_jitter = absl::Minutes(10);
    absl::Duration tick = absl::Seconds(30);  // how often Run() looks for due clusters
    // A window's failed backup is tried again up to `retries` times, the first after
    // `first_retry` (RetryDelay), and only while a retry would start within `retry_for` of the
    // window's start: well before the next window, and inside the 20 hours OnOneInstance holds
    // the window for this instance.
    int retries = 3;
    absl::Duration first_retry = absl::Minutes(15);
    absl::Duration retry_for = absl::Hours(12);
  };

  // `outcome_of` may be empty: nothing is followed or retried.
  Scheduler(const Clock* clock, ConfigSource config, LastRun last_run, Trigger trigger,
            Options options, OutcomeOf outcome_of = nullptr);
  ~Scheduler();

  // One pass: triggers every cluster whose current window has no AUTOMATED backup yet.
  void Tick();

  // Runs Tick every `tick` on a background thread until Stop or destruction.
  void Start();
  void Stop();

 private:
  const Clock* clock_;
  ConfigSource config_;
  LastRun last_run_;
  Trigger trigger_;
  Options options_;
  // The operation started for a cluster's window, followed until it ends; when it failed, when
  // the next try is due.
  struct Followed {
    absl::Time window;
    std::string operation_id;  // "" while a retry waits for `retry_at`
    int failed = 0;            // tries of this window that failed
    absl::Time retry_at = absl::InfiniteFuture();
  };
  // Whether `cluster`'s window needs a try now (after following what this instance started).
  bool DueAgain(const common::ClusterConfig& cluster, absl::Time window, absl::Time now);
  // Gives up on the followed window `it` (with mu_ held): logs `why`, what happens next and what
  // to do, and forgets it.
  void GiveUp(std::map<std::string, Followed>::iterator it, absl::string_view why);

  // A window's backup that could not start at `since` and the ticks since, for the log.
  struct Refusal {
    absl::Time window;
    std::string why;
    absl::Time since;
    absl::Time logged;
    int ticks = 0;
  };
  // Logs that `cluster_id`'s window could not start at `now` for `why`, unless it was said less
  // than kRefusalRelog ago.
  void NoteRefusal(const std::string& cluster_id, absl::Time window, const std::string& why,
                   absl::Time now);

  const OutcomeOf outcome_of_;
  std::mutex mu_;
  std::map<std::string, absl::Time> last_;    // cluster id -> start of its last AUTOMATED backup
  std::map<std::string, Followed> followed_;  // cluster id -> its window's backup, started here
  std::map<std::string, Refusal> refused_;    // cluster id -> why its due backup cannot start
  common::Periodic ticker_;
};

}  // namespace mdb::ops
