// Keeps the repository locks this process holds fresh. A lock (locks/<kind>-<id>, docs/format.md)
// counts as live while it was refreshed within the stale time; without refreshing, a backup
// running longer than that looked dead to GC (of this process or of another instance), which
// then deleted the packs the backup had written but not yet referenced. One thread rewrites each
// held lock's refreshed_at every `refresh`; a release deletes it under the same mutex, so a
// refresh never brings a released lock back.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

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

class LockKeeper {
 public:
  explicit LockKeeper(storage::Storage* storage) : storage_(storage) {}
  ~LockKeeper();

  // `lock` is stored under `key` already; from now on it is rewritten every refresh.
  void Hold(const std::string& key, const mdb_backup::v1::Lock& lock);
  // Stops refreshing and deletes the object.
  void Release(const std::string& key);

 private:
  void Loop();

  storage::Storage* storage_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, mdb_backup::v1::Lock> held_;
  bool stopping_ = false;
  std::thread thread_;  // started with the first lock held
};

}  // namespace mdb::repo
