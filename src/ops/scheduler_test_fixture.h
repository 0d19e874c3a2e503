// The scheduler's tests' fakes: a clock, a config of clusters, and the operations a trigger
// starts, whose outcomes a test sets.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "ops/scheduler.h"

namespace mdb::ops::fakes {

class FakeClock final : public Clock {
 public:
  absl::Time Now() const override { return now; }
  absl::Time now = absl::FromCivil(absl::CivilMinute(2026, 11, 24, 12, 0), absl::UTCTimeZone());
};

// Clusters a and b, and a restore target (never scheduled: every count below would see it).
inline std::shared_ptr<const common::Config> Config(int window_minutes) {
  auto cfg = std::make_shared<common::Config>();
  for (const char* id : {"a", "b", "target"}) {
    common::ClusterConfig c;
    c.id = id;
    c.backup_window_start_minutes = window_minutes;
    c.restore_target = c.id == "target";
    cfg->clusters.push_back(c);
  }
  return cfg;
}

// One cluster's operations as a fake runner sees them: each trigger starts "<cluster>-<n>",
// whose outcome the test sets.
struct Operations {
  Scheduler::Trigger Trigger(const FakeClock& clock) {
    return [this, &clock](const common::ClusterConfig& c, absl::Time) {
      if (c.id != "a") return Scheduler::Triggered{.started = true};  // only a is followed
      std::string id = "a-" + std::to_string(started.size() + 1);
      started.push_back(clock.now);
      outcome[id] = {};
      return Scheduler::Triggered{.started = true, .operation_id = id};
    };
  }
  Scheduler::OutcomeOf OutcomeOf() {
    return [this](const std::string& id) { return outcome[id]; };
  }
  void End(int n, Scheduler::Outcome::State state) {
    outcome["a-" + std::to_string(n)] = {.state = state, .error = "the source is away"};
  }
  std::vector<absl::Time> started;
  std::map<std::string, Scheduler::Outcome> outcome;
};

// 22:00 today (the fake clock starts at noon), with no jitter.
inline absl::Time Window(const FakeClock& clock) { return clock.now + absl::Hours(10); }

// A scheduler following `ops`, whose catalog's newest AUTOMATED backup started at `*newest`.
inline std::unique_ptr<Scheduler> Following(FakeClock& clock, Operations& ops,
                                            const absl::Time* newest,
                                            Scheduler::Trigger trigger = nullptr) {
  return std::make_unique<Scheduler>(
      &clock, [] { return Config(22 * 60); }, [newest](const std::string&) { return *newest; },
      trigger ? std::move(trigger) : ops.Trigger(clock),
      Scheduler::Options{.max_jitter = absl::ZeroDuration()}, ops.OutcomeOf());
}

// Cluster a's first try of today's 22:00 window, started at the window plus `after` (its last
// AUTOMATED backup was yesterday's), by a scheduler following it.
struct FirstTry {
  explicit FirstTry(absl::Duration after) {
    clock.now = window + after;
    scheduler->Tick();
  }
  FakeClock clock;
  Operations ops;
  const absl::Time window = Window(clock);
  const absl::Time yesterday = window - absl::Hours(24);
  std::unique_ptr<Scheduler> scheduler = Following(clock, ops, &yesterday);
};

}  // namespace mdb::ops::fakes
