#include "ops/gc_loop.h"

#include <gtest/gtest.h>

#include <deque>

namespace mdb::ops {
namespace {

class FakeClock final : public Clock {
 public:
  absl::Time Now() const override { return now; }
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
};

struct Fixture {
  FakeClock clock;
  std::deque<absl::Status> results;  // what the next GCs return
  int runs = 0;
  GcLoop loop{&clock,
              [this] {
                ++runs;
                absl::Status st = results.empty() ? absl::OkStatus() : results.front();
                if (!results.empty()) results.pop_front();
                return st;
              },
              nullptr,
              {.interval = absl::Hours(6), .retry = absl::Minutes(1)}};
  // Advances the clock to the loop's next run and ticks.
  absl::Duration Step() {
    absl::Duration waited = loop.next() - clock.now;
    clock.now = loop.next();
    EXPECT_TRUE(loop.Tick());
    return waited;
  }
};

TEST(GcLoop, RunsSoonAfterStartThenEveryIntervalAndNotBefore) {
  Fixture f;
  EXPECT_FALSE(f.loop.Tick());
  EXPECT_EQ(f.Step(), absl::Minutes(1));  // a service restarted often still collects
  f.clock.now += absl::Hours(6) - absl::Seconds(1);
  EXPECT_FALSE(f.loop.Tick());
  EXPECT_EQ(f.Step(), absl::Seconds(1));
  EXPECT_EQ(f.Step(), absl::Hours(6));
  EXPECT_EQ(f.runs, 3);
}

TEST(GcLoop, AFailedGcIsRetriedWithADoublingBackoffUntilItWorks) {
  Fixture f;
  for (int i = 0; i < 12; ++i)
    f.results.push_back(absl::UnavailableError("s3: connection refused"));
  f.Step();  // the first, failed
  std::vector<absl::Duration> waits;
  for (int i = 0; i < 12; ++i) waits.push_back(f.Step());
  EXPECT_EQ(waits[0], absl::Minutes(1));
  EXPECT_EQ(waits[1], absl::Minutes(2));
  EXPECT_EQ(waits[2], absl::Minutes(4));
  EXPECT_EQ(waits.back(), absl::Hours(6));  // capped at the interval
  EXPECT_EQ(f.Step(), absl::Hours(6));      // it worked: back to the interval
  EXPECT_EQ(f.Step(), absl::Hours(6));
}

TEST(GcLoop, ARunningBackupIsNotAFailure) {
  Fixture f;
  f.results.push_back(absl::UnavailableError("backup 'b1' is running (pid 1 on h); retry"));
  f.results.push_back(absl::UnavailableError("backup 'b1' is running (pid 1 on h); retry"));
  f.Step();
  EXPECT_EQ(f.Step(), absl::Minutes(1));
  EXPECT_EQ(f.Step(), absl::Minutes(1));  // no doubling
}

TEST(GcLoop, AGcThatFailedElsewhereBringsTheNextRunForward) {
  Fixture f;
  f.Step();
  f.clock.now += absl::Hours(1);
  f.loop.Failed();  // a delete's GC could not reach the storage
  EXPECT_EQ(f.Step(), absl::Minutes(1));
  EXPECT_EQ(f.runs, 2);
}

}  // namespace
}  // namespace mdb::ops
