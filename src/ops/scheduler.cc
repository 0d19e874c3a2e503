// The scheduler keeps no state of its own on disk: what was last run comes from the catalog at
// start (the newest AUTOMATED backup per cluster), so a restart, or another instance, makes the
// same decision.
#include "ops/scheduler.h"

#include "absl/time/clock.h"

namespace mdb::ops {

absl::Time SystemClock::Now() const { return absl::Now(); }

absl::Time LastWindow(absl::Time now, int window_minutes, absl::Duration jitter) {
  absl::Duration rem;
  int64_t days = absl::IDivDuration(now - absl::UnixEpoch(), absl::Hours(24), &rem);
  absl::Time midnight = absl::UnixEpoch() + absl::Hours(24) * days;
  absl::Time window = midnight + absl::Minutes(window_minutes) + jitter;
  while (window > now) window -= absl::Hours(24);
  return window;
}

absl::Duration JitterFor(const std::string& cluster_id, absl::Duration max) {
  // FNV-1a: stable across builds and platforms, unlike std::hash.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : cluster_id) h = (h ^ c) * 1099511628211ULL;
  int64_t max_s = absl::ToInt64Seconds(max);
  return max_s <= 0 ? absl::ZeroDuration() : absl::Seconds(static_cast<int64_t>(h % max_s));
}

Scheduler::Scheduler(const Clock* clock, ConfigSource config, LastRun last_run, Trigger trigger,
                     Options options)
    : clock_(clock),
      config_(std::move(config)),
      last_run_(std::move(last_run)),
      trigger_(std::move(trigger)),
      options_(options) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Tick() {
  std::shared_ptr<const common::Config> cfg = config_();
  absl::Time now = clock_->Now();
  for (const auto& cluster : cfg->clusters) {
    if (cluster.restore_target) continue;  // restored into, never backed up
    absl::Time window = LastWindow(now, cluster.backup_window_start_minutes,
                                   JitterFor(cluster.id, options_.max_jitter));
    absl::Time last;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = last_.find(cluster.id);
      if (it == last_.end()) {
        absl::Time from_catalog = last_run_(cluster.id);
        // A cluster that never had an AUTOMATED backup starts at its next window: catching up
        // is for windows missed while the service was down, not for clusters just declared.
        it = last_.emplace(cluster.id, from_catalog == absl::InfinitePast() ? now : from_catalog)
                 .first;
      }
      last = it->second;
    }
    if (last >= window) continue;  // this window's backup exists (or is running)
    if (trigger_(cluster, window)) {
      std::lock_guard<std::mutex> lock(mu_);
      last_[cluster.id] = now;
    }
  }
}

void Scheduler::Start() {
  ticker_.Start(options_.tick, [this] { Tick(); });
}

void Scheduler::Stop() { ticker_.Stop(); }

}  // namespace mdb::ops
