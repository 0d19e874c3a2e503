// The repository's locks (repo/locks.cc, lock_keeper.h): GC and backups keep out of each other's
// way, and every doubt (a lock that cannot be read, a damaged one, refreshes that failed for too
// long, a pid of another container) counts against GC deleting anything.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "common/time_util.h"
#include "google/protobuf/util/json_util.h"
#include "mdb_backup/v1/repo.pb.h"
#include "repo/lock_keeper.h"
#include "repo/repository.h"
#include "repo/repository_test_fixture.h"
#include "storage/fault_storage.h"

namespace mdb::repo {
namespace {

TEST_F(RepositoryTest, GcWaitsForRunningBackupsAndBackupsForGc) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  auto w = repo->StartBackup({.backup_id = "running"});
  ASSERT_TRUE(w.ok());
  auto gc = repo->Gc();
  EXPECT_EQ(gc.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(gc.status().message().find("backup 'running' is running"), std::string::npos);
  EXPECT_TRUE(HeldBy(gc.status(), /*gc=*/false));
  EXPECT_FALSE(HeldBy(gc.status(), /*gc=*/true));
  EXPECT_FALSE(HeldBy(absl::UnavailableError("s3: connection refused"), /*gc=*/false));
  (*w)->Abort();

  // The other way round: a backup that starts while GC runs is refused, and GC still finishes.
  // The GC is held at its first look at the manifests, where it already holds its lock.
  auto other = std::move(*Repository::Open(storage_.get(), {}));
  absl::Status during_gc;
  bool tried = false;
  storage::FaultStorage paused(
      storage_.get(), [&](storage::FaultOp op, const std::string& key, int) {
        if (op == storage::FaultOp::kList && key == "manifests/" && !tried) {
          tried = true;
          during_gc = other->StartBackup({.backup_id = "late"}).status();
        }
        return storage::Fault{};
      });
  auto gc_repo = std::move(*Repository::Open(&paused, {}));
  auto report = gc_repo->Gc();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_TRUE(tried);
  EXPECT_EQ(during_gc.code(), absl::StatusCode::kUnavailable) << during_gc;
  EXPECT_NE(during_gc.message().find("garbage collection is running"), std::string::npos)
      << during_gc;
  EXPECT_TRUE(HeldBy(during_gc, /*gc=*/true));
  EXPECT_TRUE(storage_->List("locks/")->empty());  // the refused writer left no lock behind
  auto after = repo->StartBackup({.backup_id = "running"});
  EXPECT_TRUE(after.ok()) << after.status();
}

// A backup that runs longer than the stale time (15 minutes in service; 300 ms here) still keeps
// GC away: its lock is refreshed while it is held. Before, GC of another process took the lock
// for dead and deleted the packs the backup had written but not yet referenced.
// Short lock timings for one test, restored however it ends.
struct ShortLockTiming {
  explicit ShortLockTiming(absl::Duration stale = absl::Milliseconds(300)) {
    SetLockTimingForTest({.refresh = absl::Milliseconds(50), .stale = stale});
  }
  ~ShortLockTiming() { SetLockTimingForTest({}); }
};

TEST_F(RepositoryTest, ABackupLongerThanTheStaleTimeKeepsGcAway) {
  // Three seconds: a gap of 2.4 s in the refreshes would make the lock lapse and this backup
  // fail, which is not what this test is about. With one second, one refresh's fsync stalled by
  // a parallel test's deletes (this host's ext4 discards synchronously) was once enough.
  ShortLockTiming timing(absl::Seconds(3));
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  auto w = repo->StartBackup({.backup_id = "long", .engine = "test"});
  ASSERT_TRUE(w.ok()) << w.status();
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  io::StringSource src(data);
  ASSERT_TRUE((*w)->AddStream("s", &src).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));  // past the stale time
  auto other = std::move(*Repository::Open(storage_.get(), {}));
  auto gc = other->Gc();
  EXPECT_TRUE(HeldBy(gc.status(), /*gc=*/false)) << gc.status();
  auto m = (*w)->Commit("meta");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Restore(repo.get(), "long", "s"), data);
  // Released: the lock object is gone and stays gone (no refresh brings it back).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(storage_->List("locks/")->empty());
  EXPECT_TRUE(other->Gc().ok());
}

// A backup of one stream on `store` (a repository made with `init`) whose lock's refreshes the
// store refuses for 500 ms, past the (short) stale time, and then, with `recover`, accepts for
// 200 ms again: its commit.
absl::StatusOr<Manifest> CommitAfterRefusedRefreshes(storage::Storage* store, InitOptions init,
                                                     const std::string& id, bool recover) {
  Repository::Init(store, init).status().IgnoreError();
  std::atomic<bool> refuse_locks{false};
  storage::FaultStorage faulty(store, [&](storage::FaultOp op, const std::string& key, int) {
    return storage::Fault{.fail = refuse_locks && op == storage::FaultOp::kPut &&
                                  key.rfind("locks/", 0) == 0};
  });
  auto repo = std::move(*Repository::Open(&faulty, {}));
  auto w = repo->StartBackup({.backup_id = id, .engine = "test"});
  if (!w.ok()) return w.status();
  io::StringSource src(Data(1 << 20, 3));
  RETURN_IF_ERROR((*w)->AddStream("s", &src));
  refuse_locks = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  if (recover) {
    refuse_locks = false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // refreshes would work now
  }
  return (*w)->Commit("meta");
}

// The store refuses the lock's refreshes for longer than the stale time: a GC elsewhere may have
// taken the backup for dead and removed its packs, so the backup is not committed.
TEST_F(RepositoryTest, ABackupWhoseLockWentStaleIsNotCommitted) {
  ShortLockTiming timing;
  auto m = CommitAfterRefusedRefreshes(storage_.get(), Small(), "stale", /*recover=*/false);
  EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
  EXPECT_FALSE(storage_->Stat("manifests/stale").ok());
}

// Backup "slow" (1 MiB of `seed`) on `store`, committed while the store refuses the lock's
// refreshes from the manifest's PUT on, a PUT that takes longer than the (1.5 s) stale time and
// runs `during` before it lands: the commit's result.
absl::StatusOr<Manifest> CommitThroughASlowManifestPut(storage::Storage* store, uint32_t seed,
                                                       const std::function<void()>& during) {
  std::atomic<bool> refuse_locks{false};
  storage::FaultStorage faulty(store, [&](storage::FaultOp op, const std::string& key, int) {
    if (op == storage::FaultOp::kPut && key == "manifests/slow") {
      refuse_locks = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1800));  // past the stale time
      during();
    }
    return storage::Fault{.fail = refuse_locks && op == storage::FaultOp::kPut &&
                                  key.rfind("locks/", 0) == 0};
  });
  auto mine = std::move(*Repository::Open(&faulty, {}));
  auto w = mine->StartBackup({.backup_id = "slow", .engine = "test"});
  if (!w.ok()) return w.status();
  io::StringSource src(Data(1 << 20, seed));
  RETURN_IF_ERROR((*w)->AddStream("s", &src));
  return (*w)->Commit("meta");
}

// A store call can outlast the lock: an S3 PUT retries for minutes, while the lock's refreshes
// fail too. Here the manifest's PUT takes longer than the stale time, and a GC of another process
// takes the backup for dead meanwhile and deletes its packs. Before, the PUT then landed and the
// backup was committed (DONE) naming packs that were gone.
TEST_F(RepositoryTest, ALockThatLapsedDuringTheManifestsPutFailsTheCommitAndTakesItBack) {
  // 1.5 s: the GC's own lock, refreshed every 50 ms, must not lapse while it deletes (one fsync
  // of this host's disk has taken longer than 300 ms under a parallel test).
  ShortLockTiming timing(absl::Milliseconds(1500));
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  auto other = std::move(*Repository::Open(storage_.get(), {}));
  absl::StatusOr<GcReport> gc = absl::UnknownError("not run");
  auto m = CommitThroughASlowManifestPut(storage_.get(), 5, [&] { gc = other->Gc(); });
  ASSERT_TRUE(gc.ok()) << gc.status();  // the GC ran, and deleted this backup's packs
  EXPECT_GT(gc->packs_deleted, 0);
  EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
  EXPECT_FALSE(storage_->Stat("manifests/slow").ok());
  EXPECT_FALSE(storage_->Stat("index/slow").ok());  // it named packs that are gone
  EXPECT_TRUE(repo->ListBackups()->empty());
}

// The same lapse with no GC anywhere: the manifest is taken back, the index object is not (its
// packs are all there, and a backup elsewhere may have deduplicated against it since it landed).
TEST_F(RepositoryTest, ALapseWithItsPacksStillThereTakesBackTheManifestAlone) {
  ShortLockTiming timing(absl::Milliseconds(1500));
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  auto m = CommitThroughASlowManifestPut(storage_.get(), 6, [] {});
  EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
  EXPECT_FALSE(storage_->Stat("manifests/slow").ok());
  EXPECT_TRUE(storage_->Stat("index/slow").ok());
  // Its packs are garbage to the next GC, as any failed backup's.
  auto gc = repo->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_GT(gc->packs_deleted, 0);
  EXPECT_TRUE(storage_->List("packs/")->empty());
}

// The same for GC: its new index object's PUT outlasts its lock, so a backup may have started
// beside it. The old index objects stay (they may hold what that backup deduplicated against).
TEST_F(RepositoryTest, AGcWhoseLockLapsedDuringItsIndexPutKeepsTheOldIndex) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  for (const char* id : {"a", "b"}) {
    auto w = repo->StartBackup({.backup_id = id, .engine = "test"});
    ASSERT_TRUE(w.ok()) << w.status();
    io::StringSource src(Data(1 << 20, id[0]));
    ASSERT_TRUE((*w)->AddStream("s", &src).ok());
    ASSERT_TRUE((*w)->Commit("meta").ok());
  }
  ASSERT_TRUE(repo->DeleteBackup("b").ok());  // its pack is garbage now
  auto before = storage_->List("index/");
  ASSERT_EQ(before->size(), 2u);
  ShortLockTiming timing;  // after the backups: their commits do not race it
  std::atomic<bool> refuse_locks{false};
  storage::FaultStorage faulty(
      storage_.get(), [&](storage::FaultOp op, const std::string& key, int) {
        if (op == storage::FaultOp::kPut && key.rfind("index/gc-", 0) == 0) {
          refuse_locks = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(400));  // past the stale time
        }
        return storage::Fault{.fail = refuse_locks && op == storage::FaultOp::kPut &&
                                      key.rfind("locks/", 0) == 0};
      });
  auto gc = std::move(*Repository::Open(&faulty, {}))->Gc();
  EXPECT_TRUE(absl::IsUnavailable(gc.status())) << gc.status();
  for (const auto& o : *before) EXPECT_TRUE(storage_->Stat(o.key).ok()) << o.key;
}

// A lock object as another process would have written it.
std::string LockJson(const std::string& kind, const std::string& what, const std::string& host,
                     int64_t pid) {
  mdb_backup::v1::Lock lock;
  lock.set_kind(kind);
  lock.set_what(what);
  lock.set_host(host);
  lock.set_pid(pid);
  *lock.mutable_refreshed_at() = common::ToProto(absl::Now());
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(lock, &json).ok());
  return json;
}

// Before: a lock whose read failed (an S3 error) was skipped as if absent, and GC deleted the
// packs of the backup it belonged to while that backup went on to commit.
TEST_F(RepositoryTest, ALockThatCannotBeReadKeepsGcAway) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  auto w = repo->StartBackup({.backup_id = "running", .engine = "test"});
  ASSERT_TRUE(w.ok()) << w.status();
  std::string random(4 << 20, '\0');  // incompressible: packs are written as they fill
  std::mt19937 rng(7);
  for (char& c : random) c = static_cast<char>(rng());
  io::StringSource src(random);
  ASSERT_TRUE((*w)->AddStream("s", &src).ok());
  storage::FaultStorage faulty(storage_.get(),
                               [](storage::FaultOp op, const std::string& key, int) {
                                 return storage::Fault{.fail = op == storage::FaultOp::kGet &&
                                                               key.rfind("locks/write-", 0) == 0};
                               });
  auto other = std::move(*Repository::Open(&faulty, {}));
  const auto packs = storage_->List("packs/");  // written, in no index yet
  ASSERT_FALSE(packs->empty());
  auto gc = other->Gc();
  EXPECT_TRUE(absl::IsUnavailable(gc.status())) << gc.status();
  EXPECT_TRUE(absl::StrContains(gc.status().message(), "cannot read the repository lock"))
      << gc.status();
  for (const auto& p : *packs) EXPECT_TRUE(storage_->Stat(p.key).ok()) << p.key;
  EXPECT_EQ(storage_->List("locks/")->size(), 1u);  // GC released its own
  ASSERT_TRUE((*w)->Commit("meta").ok());
  EXPECT_TRUE(other->Gc().ok());
}

// A lock released between GC's listing and its read is no conflict.
TEST_F(RepositoryTest, ALockReleasedWhileGcLooksIsNoConflict) {
  Repository::Init(storage_.get(), Small()).status().IgnoreError();
  ASSERT_TRUE(storage_->Put("locks/write-gone", LockJson("write", "gone", "elsewhere", 1)).ok());
  storage::FaultStorage releasing(storage_.get(),
                                  [&](storage::FaultOp op, const std::string& key, int) {
                                    if (op == storage::FaultOp::kGet && key == "locks/write-gone") {
                                      EXPECT_TRUE(storage_->Delete(key).ok());
                                    }
                                    return storage::Fault{};
                                  });
  auto repo = std::move(*Repository::Open(&releasing, {}));
  auto gc = repo->Gc();
  EXPECT_TRUE(gc.ok()) << gc.status();
}

// A damaged lock (not a lock's JSON) is live, to GC and to writers alike, until the store says it
// was not written for the stale time; then GC removes it.
TEST_F(RepositoryTest, ADamagedLockIsLiveUntilStaleThenRemoved) {
  ShortLockTiming timing;
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(storage_->Put("locks/gc-damaged", "{\"kind\": \"gc\", trunc").ok());
  auto gc = repo->Gc();
  EXPECT_TRUE(absl::IsUnavailable(gc.status())) << gc.status();
  EXPECT_TRUE(absl::StrContains(gc.status().message(), "'locks/gc-damaged' is damaged"))
      << gc.status();
  auto w = repo->StartBackup({.backup_id = "b", .engine = "test"});
  EXPECT_TRUE(absl::IsUnavailable(w.status())) << w.status();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // past the stale time
  gc = repo->Gc();
  EXPECT_TRUE(gc.ok()) << gc.status();
  EXPECT_TRUE(storage_->List("locks/")->empty());
}

// Writers never conflict with each other: a writer does not read other writers' locks, so a
// damaged one (or one whose read fails) blocks GC only, never a backup.
TEST_F(RepositoryTest, ADamagedWriteLockBlocksGcButNoBackup) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(storage_->Put("locks/write-damaged", "not json").ok());
  auto w = repo->StartBackup({.backup_id = "b", .engine = "test"});
  ASSERT_TRUE(w.ok()) << w.status();
  (*w)->Abort();
  EXPECT_TRUE(absl::IsUnavailable(repo->Gc().status()));
}

// A lock written by a newer version, with a field this one does not know, is still a lock.
TEST_F(RepositoryTest, ALockOfANewerVersionIsStillALock) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  std::string json = LockJson("write", "future", "elsewhere", 1);
  json.insert(json.size() - 1, ",\"leaseOwner\":\"instance-7\"");
  ASSERT_TRUE(storage_->Put("locks/write-future", json).ok());
  auto gc = repo->Gc();
  EXPECT_TRUE(HeldBy(gc.status(), /*gc=*/false)) << gc.status();
  EXPECT_TRUE(absl::StrContains(gc.status().message(), "backup 'future' is running"));
}

// Refreshes refused past the stale time, then accepted again: the lock may have been taken for
// dead meanwhile, so the backup still does not commit. Before, the next good refresh made it
// fresh again.
TEST_F(RepositoryTest, ALockThatLapsedStaysLapsedWhenRefreshesWorkAgain) {
  ShortLockTiming timing;
  auto m = CommitAfterRefusedRefreshes(storage_.get(), Small(), "lapsed", /*recover=*/true);
  EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
  EXPECT_FALSE(storage_->Stat("manifests/lapsed").ok());
}

// GC's own lock lapses while it works (here: at its look at the packs): a backup elsewhere may
// have started meanwhile, so GC deletes nothing.
TEST_F(RepositoryTest, AGcWhoseLockLapsedDeletesNothing) {
  ShortLockTiming timing;
  auto writer = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(Backup(writer.get(), "old", {{"s", Data(2 << 20, 5)}}).ok());
  ASSERT_TRUE(writer->DeleteBackup("old").ok());
  const size_t packs = storage_->List("packs/")->size();
  ASSERT_GT(packs, 0u);
  std::atomic<bool> refuse_locks{false};
  storage::FaultStorage faulty(
      storage_.get(), [&](storage::FaultOp op, const std::string& key, int) {
        if (op == storage::FaultOp::kList && key == "packs/" && !refuse_locks) {
          refuse_locks = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        return storage::Fault{.fail = refuse_locks && op == storage::FaultOp::kPut &&
                                      key.rfind("locks/", 0) == 0};
      });
  auto gc_repo = std::move(*Repository::Open(&faulty, {}));
  auto gc = gc_repo->Gc();
  EXPECT_TRUE(absl::IsUnavailable(gc.status())) << gc.status();
  EXPECT_TRUE(absl::StrContains(gc.status().message(), "deletes nothing more")) << gc.status();
  EXPECT_EQ(storage_->List("packs/")->size(), packs);
}

// A pid is looked up only where it was written: a lock of this host name but of another
// container (or machine) whose pid is not running here is live until it goes stale; one of this
// process's own scope whose process is gone is dead at once.
TEST_F(RepositoryTest, APidIsLookedUpOnlyInTheScopeItWasWrittenIn) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  std::string own_host;
  {
    auto w = repo->StartBackup({.backup_id = "probe", .engine = "test"});
    ASSERT_TRUE(w.ok()) << w.status();
    auto locks = storage_->List("locks/");
    ASSERT_EQ(locks->size(), 1u);
    mdb_backup::v1::Lock own;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(*storage_->Get(locks->front().key), &own).ok());
    own_host = own.host();
    (*w)->Abort();
  }
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  ASSERT_TRUE(absl::StartsWith(own_host, std::string(name) + "/")) << own_host;
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);  // its pid is free now
  ASSERT_TRUE(storage_->Put("locks/write-other", LockJson("write", "other", name, child)).ok());
  auto gc = repo->Gc();
  EXPECT_TRUE(HeldBy(gc.status(), /*gc=*/false)) << gc.status();
  EXPECT_TRUE(absl::StrContains(gc.status().message(), std::string(" on ") + name + ")"))
      << gc.status();
  ASSERT_TRUE(storage_->Delete("locks/write-other").ok());
  ASSERT_TRUE(storage_->Put("locks/write-dead", LockJson("write", "dead", own_host, child)).ok());
  gc = repo->Gc();
  EXPECT_TRUE(gc.ok()) << gc.status();
  EXPECT_TRUE(storage_->List("locks/")->empty());
}

}  // namespace
}  // namespace mdb::repo
