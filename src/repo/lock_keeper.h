// Keeps the repository locks this process holds fresh. A lock (locks/<kind>-<id>, docs/format.md)
// counts as live while it was refreshed within the stale time; without refreshing, a backup
// running longer than that looked dead to GC (of this process or of another instance), which
// then deleted the packs the backup had written but not yet referenced. One thread rewrites each
// held lock's refreshed_at every `refresh` (outside the mutex: a hung store delays refreshes,
// not releases); a lock released meanwhile is deleted again after its rewrite, so a refresh
// never leaves a released lock behind.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "mdb_backup/v1/repo.pb.h"
#include "storage/storage.h"

namespace mdb::repo {

// How often held locks are rewritten, and after how long without a rewrite a lock is dead. The
// stale time must be the same in every process sharing a repository (and well above the refresh
// plus the clock skew between hosts): tests shorten both.
struct LockTiming {
  absl::Duration refresh = absl::Minutes(1);
  absl::Duration stale = absl::Minutes(15);
};
LockTiming CurrentLockTiming();
void SetLockTimingForTest(LockTiming timing);

// Stores `lock` as its JSON object under `key` (a new lock, a refresh, or a rewrite).
absl::Status PutLock(storage::Storage* storage, const std::string& key,
                     const mdb_backup::v1::Lock& lock);

class LockKeeper {
 public:
  explicit LockKeeper(storage::Storage* storage) : storage_(storage) {}
  ~LockKeeper();

  // `lock` is stored under `key` already; from now on it is rewritten every refresh.
  void Hold(const std::string& key, const mdb_backup::v1::Lock& lock);
  // Stops refreshing and deletes the object.
  void Release(const std::string& key);
  // OK while the lock was written within the stale time less a margin (a minute, or a fifth of
  // it) at every moment since it was taken: a writer checks before it commits, GC before it
  // deletes. Unavailable otherwise, for good: the lock may have looked dead elsewhere while the
  // store failed the refreshes (a GC there may have deleted this backup's packs, or a backup
  // there started beside this GC), and refreshes that work again later do not undo that.
  absl::Status CheckFresh(const std::string& key);
  // When `key`, held, was last written if it has lapsed (as CheckFresh judges); nullopt while
  // fresh, or when not held.
  std::optional<absl::Time> LapsedSince(const std::string& key);

 private:
  void Loop();

  struct Held {
    mdb_backup::v1::Lock lock;
    absl::Time written;   // last successful write of the object
    bool lapsed = false;  // once unwritten for too long: never refreshed or fresh again
  };
  // Whether `held`, unwritten since `held.written`, is past the stale time less the margin.
  static bool Lapsed(const Held& held, absl::Time now);
  storage::Storage* storage_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Held> held_;
  bool stopping_ = false;
  std::thread thread_;  // started with the first lock held
};

}  // namespace mdb::repo
