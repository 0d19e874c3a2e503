// The scheduler keeps no state of its own on disk: what was last run comes from the catalog at
// start (the newest AUTOMATED backup per cluster), so a restart, or another instance, makes the
// same decision.
#include "ops/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/time_util.h"

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

absl::Duration RetryDelay(int failed, absl::Duration first) {
  return first * (int64_t{1} << std::clamp(failed - 1, 0, 20));
}

Scheduler::Scheduler(const Clock* clock, ConfigSource config, LastRun last_run, Trigger trigger,
                     Options options, OutcomeOf outcome_of)
    : clock_(clock),
      config_(std::move(config)),
      last_run_(std::move(last_run)),
      trigger_(std::move(trigger)),
      options_(options),
      outcome_of_(std::move(outcome_of)) {}

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
        absl::StatusOr<absl::Time> read = last_run_(cluster.id);
        if (!read.ok()) {
          common::Log(common::LogLevel::kWarning, "scheduler",
                      absl::StrCat("automated backup of '", cluster.id,
                                   "': its last one cannot be ", "read (", read.status().message(),
                                   "); asked again in ", absl::FormatDuration(options_.tick)));
          continue;
        }
        const absl::Time from_catalog = *read;
        // A cluster that never had an AUTOMATED backup starts at its next window: catching up
        // is for windows missed while the service was down, not for clusters just declared.
        it = last_.emplace(cluster.id, from_catalog == absl::InfinitePast() ? now : from_catalog)
                 .first;
      }
      last = it->second;
    }
    // This window's backup exists or is running, unless one started here failed and is due
    // again.
    if (last >= window && !DueAgain(cluster, window, now)) continue;
    Triggered triggered = trigger_(cluster, window);
    if (!triggered.started) {
      NoteRefusal(cluster.id, window, triggered.refused, now);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    refused_.erase(cluster.id);
    last_[cluster.id] = now;
    if (triggered.operation_id.empty() || !outcome_of_) {
      followed_.erase(cluster.id);  // another instance's to follow
      continue;
    }
    Followed& followed = followed_[cluster.id];
    if (followed.window != window) followed = Followed{.window = window};
    followed.operation_id = triggered.operation_id;
    followed.retry_at = absl::InfiniteFuture();
  }
}

bool Scheduler::DueAgain(const common::ClusterConfig& cluster, absl::Time window, absl::Time now) {
  std::string operation_id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = followed_.find(cluster.id);
    if (it == followed_.end()) return false;
    if (window > it->second.window) {  // a day gone by: the new window has its own tries
      followed_.erase(it);
      return false;
    }
    // The clock stepped back past the window's start: wait until it is back.
    if (window < it->second.window) return false;
    if (it->second.operation_id.empty()) {
      if (now < it->second.retry_at) return false;
      if (now <= window + options_.retry_for) return true;
      // The retry could not start (a backup of the cluster running, the catalog away) in time.
      GiveUp(it, absl::StrCat("automated backup of '", cluster.id, "': the retry due at ",
                              common::UtcText(it->second.retry_at), " could not start by ",
                              common::UtcText(window + options_.retry_for)));
      return false;
    }
    operation_id = it->second.operation_id;
  }
  const Outcome outcome = outcome_of_(operation_id);  // a catalog read: not under mu_
  std::lock_guard<std::mutex> lock(mu_);
  auto it = followed_.find(cluster.id);
  if (it == followed_.end() || it->second.operation_id != operation_id) return false;
  Followed& followed = it->second;
  if (outcome.state == Outcome::kRunning) return false;
  if (outcome.state == Outcome::kUnknown) {
    if (now <= window + options_.retry_for) return false;
    GiveUp(it,
           absl::StrCat("automated backup of '", cluster.id, "' (window ", common::UtcText(window),
                        "): how operation ", operation_id, " ended could not be read until ",
                        common::UtcText(window + options_.retry_for), " (", outcome.error, ")"));
    return false;
  }
  if (outcome.state == Outcome::kDone) {
    followed_.erase(it);
    return false;
  }
  ++followed.failed;
  const absl::Duration delay = RetryDelay(followed.failed, options_.first_retry);
  const std::string what = absl::StrCat("automated backup of '", cluster.id, "' (window ",
                                        common::UtcText(window), ") failed, try ", followed.failed,
                                        " (operation ", operation_id, "): ", outcome.error);
  if (followed.failed > options_.retries || now + delay > window + options_.retry_for) {
    GiveUp(it, absl::StrCat(what, "; no retry is left before ",
                            common::UtcText(window + options_.retry_for), " (", options_.retries,
                            " at most)"));
    return false;
  }
  followed.operation_id.clear();
  followed.retry_at = now + delay;
  common::Log(common::LogLevel::kWarning, "scheduler",
              absl::StrCat(what, "; trying again at ", common::UtcText(followed.retry_at),
                           " (retry ", followed.failed, " of ", options_.retries, ")"));
  return false;
}

void Scheduler::NoteRefusal(const std::string& cluster_id, absl::Time window,
                            const std::string& why, absl::Time now) {
  if (why.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  Refusal& r = refused_[cluster_id];
  if (r.window != window || r.why != why) {
    r = Refusal{.window = window, .why = why, .since = now, .logged = absl::InfinitePast()};
  }
  ++r.ticks;
  if (now - r.logged < kRefusalRelog) return;
  r.logged = now;
  std::string line = absl::StrCat("automated backup of '", cluster_id, "' (window ",
                                  common::UtcText(window), ") not started: ", why);
  if (r.ticks > 1) {
    absl::StrAppend(&line, " (since ", common::UtcText(r.since), ", ", r.ticks, " tries)");
  }
  absl::StrAppend(&line, "; tried again every ", absl::FormatDuration(options_.tick),
                  ", said again every ", absl::FormatDuration(kRefusalRelog), " while it lasts");
  common::Log(common::LogLevel::kWarning, "scheduler", line);
}

void Scheduler::GiveUp(std::map<std::string, Followed>::iterator it, absl::string_view why) {
  common::Log(common::LogLevel::kError, "scheduler",
              absl::StrCat(why, "; the next try is the next window's, ",
                           common::UtcText(it->second.window + absl::Hours(24)),
                           ": take a MANUAL backup if one is needed sooner"));
  followed_.erase(it);
}

void Scheduler::Start() {
  ticker_.Start(options_.tick, [this] { Tick(); });
}

void Scheduler::Stop() { ticker_.Stop(); }

}  // namespace mdb::ops
