#include "ops/scheduler.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <vector>

#include "catalog/catalog.h"
#include "common/test_dir.h"
#include "ops/leases.h"
#include "ops/scheduler_test_fixture.h"

namespace mdb::ops {
namespace {

using fakes::Config;
using fakes::FakeClock;

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

}  // namespace
}  // namespace mdb::ops
