// The retries of a window's AUTOMATED backup that failed, and what is logged while one cannot
// start.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "catalog/catalog.h"
#include "catalog/forwarding_catalog.h"
#include "common/test_dir.h"
#include "common/time_util.h"
#include "google/protobuf/empty.pb.h"
#include "io/stream.h"
#include "ops/automated.h"
#include "ops/reconcile.h"
#include "ops/scheduler.h"
#include "ops/scheduler_test_fixture.h"
#include "repo/repository.h"
#include "storage/posix/posix_storage.h"

namespace mdb::ops {
namespace {

using fakes::Config;
using fakes::FakeClock;
using fakes::FirstTry;
using fakes::Following;
using fakes::Operations;
using fakes::Window;

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

// The lines the scheduler logged for cluster a's refused tries in `logged` (stderr).
int RefusalLines(const std::string& logged) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(logged, '\n')) {
    n += absl::StrContains(line, "automated backup of 'a' (window") &&
         absl::StrContains(line, "not started");
  }
  return n;
}

TEST(Scheduler, ABackupThatCannotStartIsLoggedWhenTheReasonChangesAndEveryTenMinutes) {
  FakeClock clock;
  Operations ops;
  std::string refused = "a MANUAL backup of 'a' is running";
  Scheduler::Trigger follow = ops.Trigger(clock);
  const absl::Time window = Window(clock);
  const absl::Time yesterday = window - absl::Hours(24);
  auto scheduler =
      Following(clock, ops, &yesterday, [&](const common::ClusterConfig& c, absl::Time w) {
        if (c.id != "a" || refused.empty()) return follow(c, w);
        return Scheduler::Triggered{.refused = refused};
      });
  Scheduler& s = *scheduler;
  clock.now = window;
  testing::internal::CaptureStderr();
  for (int t = 0; t < 25; ++t) {  // 12 minutes of ticks every 30 s: said at 0 and at 10
    s.Tick();
    clock.now += absl::Seconds(30);
  }
  std::string logged = testing::internal::GetCapturedStderr();
  EXPECT_EQ(RefusalLines(logged), 2) << logged;
  EXPECT_TRUE(
      absl::StrContains(logged, "is running (since " + common::UtcText(window) + ", 21 tries)"))
      << logged;
  refused = "the catalog is away";  // a new reason: said at once
  testing::internal::CaptureStderr();
  s.Tick();
  clock.now += absl::Seconds(30);
  s.Tick();
  logged = testing::internal::GetCapturedStderr();
  EXPECT_EQ(RefusalLines(logged), 1) << logged;
  EXPECT_TRUE(absl::StrContains(logged, "not started: the catalog is away; tried again")) << logged;
  refused.clear();  // it starts and fails; its retry, refused for the same reason, is said at once
  s.Tick();
  ASSERT_EQ(ops.started.size(), 1u);
  ops.End(1, Scheduler::Outcome::kFailed);
  s.Tick();
  refused = "the catalog is away";
  clock.now += absl::Minutes(15);
  testing::internal::CaptureStderr();
  s.Tick();
  logged = testing::internal::GetCapturedStderr();
  EXPECT_EQ(RefusalLines(logged), 1) << logged;
  EXPECT_FALSE(absl::StrContains(logged, "(since")) << logged;  // counted afresh
  EXPECT_EQ(ops.started.size(), 1u);
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
    return OperationOutcome(catalog->get(), nullptr, op->id());
  };
  Scheduler::Outcome failed = finish(absl::UnavailableError("redis 'rd1' refused the connection"));
  EXPECT_EQ(failed.state, Scheduler::Outcome::kFailed);
  EXPECT_EQ(failed.error, "redis 'rd1' refused the connection");
  EXPECT_EQ(finish(absl::OkStatus()).state, Scheduler::Outcome::kDone);
  EXPECT_EQ(finish(absl::CancelledError("operation cancelled by request")).state,
            Scheduler::Outcome::kDone);
  EXPECT_EQ(OperationOutcome(catalog->get(), nullptr, "no-such-operation").state,
            Scheduler::Outcome::kUnknown);
  // An AUTOMATED backup's operation that failed after its backup was recorded (in retention), or
  // committed to the repository with its record failing: done (the committed one is listed
  // now); neither (no such backup): failed.
  auto storage = storage::OpenPosixStorage((dir / "repo").string());
  ASSERT_TRUE(storage.ok()) << storage.status();
  auto repository = repo::Repository::Init(storage->get(), {});
  ASSERT_TRUE(repository.ok()) << repository.status();
  {
    auto w = (*repository)->StartBackup({.backup_id = "committed", .engine = "redis"});
    ASSERT_TRUE(w.ok()) << w.status();
    io::StringSource data("the shard's snapshot");
    ASSERT_TRUE((*w)->AddStream("shard/s1/dump.rdb", &data).ok());
    catalog::BackupRecord partial;
    partial.set_engine(common::Engine::REDIS);
    partial.set_cluster_id("a");
    partial.set_folder_id("f");
    partial.set_type(catalog::BackupRecord::AUTOMATED);
    ASSERT_TRUE((*w)->Commit("meta", ServiceRecord(partial)).ok());
  }
  for (const char* backup_id : {"recorded", "committed", "never-recorded"}) {
    const bool recorded = std::string(backup_id) == "recorded";
    ::mdb_backup::v1::OperationTask task;
    task.mutable_backup()->set_cluster_id("a");
    task.mutable_backup()->set_backup_id(backup_id);
    catalog::OperationRecord op;
    op.folder_id = "f";
    op.operation.set_id(std::string("op-") + backup_id);
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
    const bool committed = std::string(backup_id) != "never-recorded";
    EXPECT_EQ(OperationOutcome(catalog->get(), repository->get(), op.operation.id()).state,
              committed ? Scheduler::Outcome::kDone : Scheduler::Outcome::kFailed)
        << backup_id;
  }
  auto listed = catalog->get()->GetBackup("committed");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->type(), catalog::BackupRecord::AUTOMATED);
  // Whether the backup was recorded cannot be read: unknown, never taken as "not recorded".
  class AwayBackups final : public catalog::ForwardingCatalog {
   public:
    using ForwardingCatalog::ForwardingCatalog;
    absl::StatusOr<catalog::BackupRecord> GetBackup(const std::string&) override {
      return absl::UnavailableError("the catalog is away");
    }
  } away(catalog->get());
  Scheduler::Outcome unknown = OperationOutcome(&away, repository->get(), "op-never-recorded");
  EXPECT_EQ(unknown.state, Scheduler::Outcome::kUnknown);
  EXPECT_EQ(unknown.error, "the catalog is away");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::ops
