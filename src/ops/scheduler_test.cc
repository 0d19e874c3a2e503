#include "ops/scheduler.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/forwarding_catalog.h"
#include "common/test_dir.h"
#include "google/protobuf/empty.pb.h"
#include "ops/automated.h"
#include "ops/leases.h"

namespace mdb::ops {
namespace {

class FakeClock final : public Clock {
 public:
  absl::Time Now() const override { return now; }
  absl::Time now = absl::FromCivil(absl::CivilMinute(2026, 11, 24, 12, 0), absl::UTCTimeZone());
};

// Clusters a and b, and a restore target (never scheduled: every count below would see it).
std::shared_ptr<const common::Config> Config(int window_minutes) {
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

TEST(Scheduler, LastWindowIsTheMostRecentStart) {
  absl::Time noon = absl::FromCivil(absl::CivilMinute(2026, 11, 24, 12, 0), absl::UTCTimeZone());
  EXPECT_EQ(LastWindow(noon, 22 * 60, absl::ZeroDuration()),
            absl::FromCivil(absl::CivilMinute(2026, 11, 23, 22, 0), absl::UTCTimeZone()));
  EXPECT_EQ(LastWindow(noon, 11 * 60, absl::Minutes(5)),
            absl::FromCivil(absl::CivilMinute(2026, 11, 24, 11, 5), absl::UTCTimeZone()));
  EXPECT_EQ(LastWindow(noon, 12 * 60, absl::ZeroDuration()), noon);  // a window starting now
}

TEST(Scheduler, JitterIsStableAndBounded) {
  EXPECT_EQ(JitterFor("cluster-1", absl::Minutes(10)), JitterFor("cluster-1", absl::Minutes(10)));
  for (int i = 0; i < 100; ++i) {
    absl::Duration j = JitterFor("c" + std::to_string(i), absl::Minutes(10));
    EXPECT_GE(j, absl::ZeroDuration());
    EXPECT_LT(j, absl::Minutes(10));
  }
  EXPECT_EQ(JitterFor("x", absl::ZeroDuration()), absl::ZeroDuration());
}

// Days go by in simulated time: one AUTOMATED backup per cluster per day at its window, a missed
// window caught up once at start, nothing twice while a backup is refused (already running).
TEST(Scheduler, OneBackupPerClusterPerDayWithCatchUp) {
  FakeClock clock;
  std::vector<std::pair<std::string, absl::Time>> started;
  bool accept = true;
  absl::Time two_days_ago = clock.now - absl::Hours(48);
  Scheduler s(
      &clock, [] { return Config(22 * 60); }, [&](const std::string&) { return two_days_ago; },
      [&](const common::ClusterConfig& c, absl::Time) {
        if (accept) started.push_back({c.id, clock.now});
        return Scheduler::Triggered{.started = accept};
      },
      {.max_jitter = absl::ZeroDuration()});
  s.Tick();  // start: yesterday's 22:00 window was missed -> caught up once, per cluster
  ASSERT_EQ(started.size(), 2u);
  s.Tick();
  EXPECT_EQ(started.size(), 2u);
  clock.now += absl::Hours(9);  // 21:00: before today's window
  s.Tick();
  EXPECT_EQ(started.size(), 2u);
  clock.now += absl::Hours(1) + absl::Seconds(1);  // 22:00:01: today's window
  accept = false;  // a backup is still running: refused, retried at the next tick
  s.Tick();
  EXPECT_EQ(started.size(), 2u);
  accept = true;
  clock.now += absl::Seconds(30);
  s.Tick();
  EXPECT_EQ(started.size(), 4u);
  for (int day = 0; day < 30; ++day) {  // a month of ticks every 15 minutes
    for (int t = 0; t < 96; ++t) {
      clock.now += absl::Minutes(15);
      s.Tick();
    }
  }
  EXPECT_EQ(started.size(), 4u + 2 * 30);
}

TEST(Scheduler, ANewClusterStartsAtItsNextWindow) {
  FakeClock clock;  // 12:00; window 22:00
  int started = 0;
  Scheduler s(
      &clock, [] { return Config(22 * 60); },
      [](const std::string&) { return absl::InfinitePast(); },
      [&](const common::ClusterConfig&, absl::Time) {
        return Scheduler::Triggered{.started = ++started > 0};
      },
      {.max_jitter = absl::ZeroDuration()});
  s.Tick();
  EXPECT_EQ(started, 0);
  clock.now += absl::Hours(10) + absl::Seconds(1);
  s.Tick();
  EXPECT_EQ(started, 2);
}

TEST(Scheduler, ARecentBackupMeansNothingIsDueYet) {
  FakeClock clock;
  int started = 0;
  Scheduler s(
      &clock, [] { return Config(22 * 60); },
      [&](const std::string&) { return clock.now - absl::Hours(1); },
      [&](const common::ClusterConfig&, absl::Time) {
        return Scheduler::Triggered{.started = ++started > 0};
      },
      {.max_jitter = absl::ZeroDuration()});
  s.Tick();
  EXPECT_EQ(started, 0);
}

// Three instances on one catalog, ticking in turn over ten simulated days: each cluster gets
// exactly one AUTOMATED backup a day across all of them.
TEST(Scheduler, OneBackupPerClusterPerDayAcrossInstances) {
  auto dir = common::FreshTestDir("scheduler_instances");
  auto catalog = catalog::OpenSqliteCatalog((dir / "catalog.db").string());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  FakeClock clock;
  // (cluster, window) -> backups started; a window is a day (a missed one caught up at start
  // shares a calendar day with that day's own window, so days are counted by window)
  std::map<std::pair<std::string, int64_t>, int> per_day;
  std::vector<std::unique_ptr<Leases>> leases;
  std::vector<std::unique_ptr<Scheduler>> instances;
  for (const char* name : {"a", "b", "c"}) {
    leases.push_back(std::make_unique<Leases>(catalog->get(), name, &clock));
    instances.push_back(std::make_unique<Scheduler>(
        &clock, [] { return Config(22 * 60); },
        [&](const std::string&) { return clock.now - absl::Hours(30); },
        OnOneInstance(leases.back().get(),
                      [&](const common::ClusterConfig& c, absl::Time window) {
                        ++per_day[{c.id, absl::ToUnixSeconds(window)}];
                        return Scheduler::Triggered{.started = true};
                      }),
        Scheduler::Options{.max_jitter = absl::ZeroDuration()}));
  }
  for (int step = 0; step < 10 * 24 * 4; ++step) {  // every 15 minutes, each instance in turn
    for (auto& s : instances) s->Tick();
    clock.now += absl::Minutes(15);
  }
  ASSERT_FALSE(per_day.empty());
  std::map<std::string, int> days;
  for (const auto& [key, n] : per_day) {
    EXPECT_EQ(n, 1) << key.first << " in the window of " << key.second;
    ++days[key.first];
  }
  EXPECT_EQ(days.size(), 2u);
  for (const auto& [cluster, n] : days) EXPECT_GE(n, 10) << cluster;
  std::filesystem::remove_all(dir);
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
absl::Time Window(const FakeClock& clock) { return clock.now + absl::Hours(10); }

// A scheduler following `ops`, whose catalog's newest AUTOMATED backup started at `*newest`.
std::unique_ptr<Scheduler> Following(FakeClock& clock, Operations& ops, const absl::Time* newest,
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

TEST(Scheduler, AFailedBackupIsTriedAgainWithGrowingPausesThenLeftToTheNextWindow) {
  FakeClock clock;
  Operations ops;
  const absl::Time window = Window(clock);
  const absl::Time never = absl::InfinitePast();
  auto scheduler = Following(clock, ops, &never);
  Scheduler& s = *scheduler;
  s.Tick();  // a new cluster: nothing before its first window
  clock.now = window;
  s.Tick();
  ASSERT_EQ(ops.started.size(), 1u);
  // Running for a while: nothing more.
  for (int i = 0; i < 10; ++i) {
    clock.now += absl::Seconds(30);
    s.Tick();
  }
  EXPECT_EQ(ops.started.size(), 1u);
  // Each failure seen at a tick; the next try 15, 30, then 60 minutes after it.
  for (int n = 1; n <= 3; ++n) {
    ops.End(n, Scheduler::Outcome::kFailed);
    s.Tick();
    const absl::Time failed_at = clock.now;
    const absl::Duration pause = RetryDelay(n, absl::Minutes(15));
    EXPECT_EQ(pause, absl::Minutes(15) * (1 << (n - 1)));
    clock.now = failed_at + pause - absl::Seconds(1);
    s.Tick();
    ASSERT_EQ(ops.started.size(), static_cast<size_t>(n)) << "retry " << n << " too early";
    clock.now = failed_at + pause;
    s.Tick();
    ASSERT_EQ(ops.started.size(), static_cast<size_t>(n + 1)) << "retry " << n << " not made";
    EXPECT_EQ(ops.started.back(), failed_at + pause);
  }
  // The fourth try fails too: three retries were all there were for today's window.
  ops.End(4, Scheduler::Outcome::kFailed);
  for (int t = 0; t < 4 * 20; ++t) {  // the 20 hours after it
    clock.now += absl::Minutes(15);
    s.Tick();
  }
  EXPECT_EQ(ops.started.size(), 4u);
  clock.now = window + absl::Hours(24);  // tomorrow's window: tried afresh
  s.Tick();
  ASSERT_EQ(ops.started.size(), 5u);
  ops.End(5, Scheduler::Outcome::kFailed);
  s.Tick();
  clock.now += absl::Minutes(15);
  s.Tick();
  EXPECT_EQ(ops.started.size(), 6u);  // with its own retries
}

TEST(Scheduler, ASucceededOrNeverEndingBackupIsNotTriedAgain) {
  for (auto end : {Scheduler::Outcome::kDone, Scheduler::Outcome::kRunning}) {
    FirstTry first(absl::ZeroDuration());
    auto& [clock, ops, window, yesterday, scheduler] = first;
    Scheduler& s = *scheduler;
    ASSERT_EQ(ops.started.size(), 1u);
    ops.End(1, end);  // kDone: succeeded, or cancelled (OperationOutcome); kRunning: never ends
    for (int t = 0; t < 4 * 23; ++t) {  // until just before tomorrow's window
      clock.now += absl::Minutes(15);
      s.Tick();
    }
    EXPECT_EQ(ops.started.size(), 1u) << end;
  }
}

TEST(Scheduler, RetriesStopWhereTheyWouldStartTooLateInTheWindowsDay) {
  FakeClock clock;  // 12:00, so yesterday's 22:00 window began 14 hours ago: caught up once
  Operations ops;
  const absl::Time long_ago = clock.now - absl::Hours(40);
  auto scheduler = Following(clock, ops, &long_ago);
  Scheduler& s = *scheduler;
  s.Tick();
  ASSERT_EQ(ops.started.size(), 1u);
  ops.End(1, Scheduler::Outcome::kFailed);  // a retry would start past window + 12 hours
  for (int t = 0; t < 4 * 9; ++t) {
    clock.now += absl::Minutes(15);
    s.Tick();
  }
  EXPECT_EQ(ops.started.size(), 1u);
  clock.now += absl::Hours(1);  // today's window
  s.Tick();
  EXPECT_EQ(ops.started.size(), 2u);
}

TEST(Scheduler, AFailedRetryThatCannotStartIsAskedForAtEveryTick) {
  FakeClock clock;
  Operations ops;
  bool refuse = false;
  Scheduler::Trigger follow = ops.Trigger(clock);
  const absl::Time window = Window(clock);
  const absl::Time yesterday = window - absl::Hours(24);
  auto scheduler =
      Following(clock, ops, &yesterday, [&](const common::ClusterConfig& c, absl::Time w) {
        return refuse ? Scheduler::Triggered{} : follow(c, w);
      });
  Scheduler& s = *scheduler;
  clock.now = window;  // 22:00, a day after the last AUTOMATED backup's window
  s.Tick();
  ASSERT_EQ(ops.started.size(), 1u);
  ops.End(1, Scheduler::Outcome::kFailed);
  s.Tick();
  refuse = true;  // e.g. a MANUAL backup of the cluster is running when the retry is due
  clock.now += absl::Minutes(15);
  s.Tick();
  EXPECT_EQ(ops.started.size(), 1u);
  refuse = false;
  clock.now += absl::Seconds(30);
  s.Tick();
  EXPECT_EQ(ops.started.size(), 2u);
  // The retry fails too, and the next cannot start until 12 hours after the window: given up.
  ops.End(2, Scheduler::Outcome::kFailed);
  s.Tick();
  refuse = true;
  while (clock.now <= window + absl::Hours(12)) {  // refused at every tick until then
    clock.now += absl::Seconds(30);
    s.Tick();
  }
  refuse = false;
  for (int t = 0; t < 4 * 10; ++t) {  // the rest of the day: nothing more
    clock.now += absl::Minutes(15);
    s.Tick();
  }
  EXPECT_EQ(ops.started.size(), 2u);
}

TEST(Scheduler, AClockSteppedBackOverTheWindowKeepsItsRetry) {
  FirstTry first(absl::Seconds(10));
  auto& [clock, ops, window, yesterday, scheduler] = first;
  Scheduler& s = *scheduler;
  ASSERT_EQ(ops.started.size(), 1u);
  ops.End(1, Scheduler::Outcome::kFailed);
  s.Tick();                                // retry due at 22:15
  clock.now = window - absl::Seconds(20);  // NTP steps the clock back past the window's start
  s.Tick();
  clock.now = window + absl::Minutes(16);
  s.Tick();
  EXPECT_EQ(ops.started.size(), 2u);
}

TEST(Scheduler, ACatalogThatCannotBeReadAtStartDelaysTheCatchUpWithoutSkippingIt) {
  FakeClock clock;  // 12:00: yesterday's 22:00 window was missed while the service was down
  int started = 0;
  bool readable = false;
  Scheduler s(
      &clock, [] { return Config(22 * 60); },
      [&](const std::string&) -> absl::StatusOr<absl::Time> {
        if (!readable) return absl::UnavailableError("the catalog is away");
        return clock.now - absl::Hours(40);
      },
      [&](const common::ClusterConfig&, absl::Time) {
        return Scheduler::Triggered{.started = ++started > 0};
      },
      {.max_jitter = absl::ZeroDuration()});
  s.Tick();  // not taken as "never backed up" (which waits for the next window)
  EXPECT_EQ(started, 0);
  readable = true;
  clock.now += absl::Seconds(30);
  s.Tick();
  EXPECT_EQ(started, 2);  // both clusters caught up
}

TEST(Scheduler, AnOutcomeThatCannotBeReadIsAskedAgainAndNeverRetriedBlindly) {
  FirstTry first(absl::ZeroDuration());
  auto& [clock, ops, window, yesterday, scheduler] = first;
  Scheduler& s = *scheduler;
  ASSERT_EQ(ops.started.size(), 1u);
  ops.End(1, Scheduler::Outcome::kUnknown);  // e.g. its backup's record cannot be read
  for (int t = 0; t < 60; ++t) {
    clock.now += absl::Seconds(30);
    s.Tick();
  }
  EXPECT_EQ(ops.started.size(), 1u);
  ops.End(1, Scheduler::Outcome::kFailed);  // readable again: it had failed
  s.Tick();
  clock.now += absl::Minutes(15);
  s.Tick();
  EXPECT_EQ(ops.started.size(), 2u);
}

// The outcome the server's scheduler follows, read from a real catalog: an error is a failure
// with its message; a success and a cancellation are not; what cannot be read is unknown.
TEST(Scheduler, OperationOutcomeReadsTheCatalog) {
  auto dir = common::FreshTestDir("scheduler_outcome");
  auto catalog = catalog::OpenSqliteCatalog((dir / "catalog.db").string());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  OperationRunner runner(catalog->get(), 1);
  auto finish = [&](absl::Status status) {
    auto op = runner.Start({.folder_id = "f"},
                           [status](const TaskContext&) -> absl::StatusOr<google::protobuf::Any> {
                             if (!status.ok()) return status;
                             google::protobuf::Any any;
                             any.PackFrom(google::protobuf::Empty());
                             return any;
                           });
    EXPECT_TRUE(op.ok());
    runner.WaitIdle();
    return OperationOutcome(catalog->get(), op->id());
  };
  Scheduler::Outcome failed = finish(absl::UnavailableError("redis 'rd1' refused the connection"));
  EXPECT_EQ(failed.state, Scheduler::Outcome::kFailed);
  EXPECT_EQ(failed.error, "redis 'rd1' refused the connection");
  EXPECT_EQ(finish(absl::OkStatus()).state, Scheduler::Outcome::kDone);
  EXPECT_EQ(finish(absl::CancelledError("operation cancelled by request")).state,
            Scheduler::Outcome::kDone);
  EXPECT_EQ(OperationOutcome(catalog->get(), "no-such-operation").state,
            Scheduler::Outcome::kUnknown);
  // An AUTOMATED backup's operation that failed after its backup was recorded (in retention):
  // done; before (no such backup): failed.
  for (bool recorded : {true, false}) {
    const std::string backup_id = recorded ? "recorded" : "never-recorded";
    ::mdb_backup::v1::OperationTask task;
    task.mutable_backup()->set_cluster_id("a");
    task.mutable_backup()->set_backup_id(backup_id);
    catalog::OperationRecord op;
    op.folder_id = "f";
    op.operation.set_id("op-" + backup_id);
    op.operation.set_done(true);
    op.operation.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kUnavailable));
    op.operation.mutable_error()->set_message("retention: the repository is away");
    op.request = task.SerializeAsString();
    ASSERT_TRUE(catalog->get()->PutOperation(op).ok());
    if (recorded) {
      catalog::BackupRecord b;
      b.set_id(backup_id);
      b.set_cluster_id("a");
      b.set_folder_id("f");
      b.set_type(catalog::BackupRecord::AUTOMATED);
      ASSERT_TRUE(catalog->get()->PutBackup(b).ok());
    }
    EXPECT_EQ(OperationOutcome(catalog->get(), op.operation.id()).state,
              recorded ? Scheduler::Outcome::kDone : Scheduler::Outcome::kFailed)
        << backup_id;
  }
  // Whether the backup was recorded cannot be read: unknown, never taken as "not recorded".
  class AwayBackups final : public catalog::ForwardingCatalog {
   public:
    using ForwardingCatalog::ForwardingCatalog;
    absl::StatusOr<catalog::BackupRecord> GetBackup(const std::string&) override {
      return absl::UnavailableError("the catalog is away");
    }
  } away(catalog->get());
  Scheduler::Outcome unknown = OperationOutcome(&away, "op-never-recorded");
  EXPECT_EQ(unknown.state, Scheduler::Outcome::kUnknown);
  EXPECT_EQ(unknown.error, "the catalog is away");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::ops
