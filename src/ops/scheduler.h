// The daily schedule: each cluster gets one AUTOMATED backup a day, starting at its backup window
// (config `backup_window_start`, UTC) plus a per-cluster jitter, so clusters sharing a window do
// not all start at once. A window missed while the service was down is caught up once at start;
// a cluster with no AUTOMATED backup yet gets its first one at its next window.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

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

class Scheduler {
 public:
  // Starts the AUTOMATED backup of the cluster for the window that began at `window`; returns
  // false if it could not start (e.g. one is already running), in which case the scheduler
  // tries again at its next tick. True also when another instance has this window's backup.
  using Trigger = std::function<bool(const common::ClusterConfig& cluster, absl::Time window)>;
  // When the cluster's newest AUTOMATED backup started (InfinitePast if none), read once per
  // cluster from the catalog at start.
  using LastRun = std::function<absl::Time(const std::string& cluster_id)>;
  using ConfigSource = std::function<std::shared_ptr<const common::Config>()>;

  struct Options {
    absl::Duration max_jitter = absl::Minutes(10);
    absl::Duration tick = absl::Seconds(30);  // how often Run() looks for due clusters
  };

  Scheduler(const Clock* clock, ConfigSource config, LastRun last_run, Trigger trigger,
            Options options);
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
  std::mutex mu_;
  std::map<std::string, absl::Time> last_;  // cluster id -> start of its last AUTOMATED backup
  common::Periodic ticker_;
};

}  // namespace mdb::ops
