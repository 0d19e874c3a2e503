#include "repo/lock_keeper.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/time_util.h"
#include "google/protobuf/util/json_util.h"

namespace mdb::repo {
namespace {

std::mutex timing_mu;
LockTiming timing;

}  // namespace

LockTiming CurrentLockTiming() {
  std::lock_guard<std::mutex> lock(timing_mu);
  return timing;
}

void SetLockTimingForTest(LockTiming t) {
  std::lock_guard<std::mutex> lock(timing_mu);
  timing = t;
}

absl::Status PutLock(storage::Storage* storage, const std::string& key,
                     const mdb_backup::v1::Lock& lock) {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(lock, &json);  // a plain message: cannot fail
  return storage->Put(key, json);
}

LockKeeper::~LockKeeper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LockKeeper::Hold(const std::string& key, const mdb_backup::v1::Lock& lock) {
  std::lock_guard<std::mutex> guard(mu_);
  held_[key] = {.lock = lock, .written = common::FromProto(lock.refreshed_at())};
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void LockKeeper::Release(const std::string& key) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    held_.erase(key);
  }
  (void)storage_->Delete(key);  // a lock left behind goes stale; GC removes it then
}

bool LockKeeper::Lapsed(const Held& held, absl::Time now) {
  const LockTiming timing = CurrentLockTiming();
  const absl::Duration margin = std::min(absl::Minutes(1), timing.stale / 5);
  return held.lapsed || now - held.written > timing.stale - margin;
}

std::optional<absl::Time> LockKeeper::LapsedSince(const std::string& key) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = held_.find(key);
  if (it == held_.end() || !Lapsed(it->second, absl::Now())) return std::nullopt;
  it->second.lapsed = true;
  return it->second.written;
}

absl::Status LockKeeper::CheckFresh(const std::string& key) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = held_.find(key);
  if (it == held_.end()) {
    return absl::FailedPreconditionError(absl::StrCat("lock '", key, "' is not held"));
  }
  Held& held = it->second;
  if (!Lapsed(held, absl::Now())) return absl::OkStatus();
  held.lapsed = true;
  const bool gc = held.lock.kind() == "gc";
  return absl::UnavailableError(absl::StrCat(
      "the repository lock '", key, "' went unrefreshed for longer than is safe (last written ",
      common::UtcText(held.written), "; the store refused the writes): ",
      gc ? "a backup elsewhere may have started beside this GC, so it deletes nothing more"
         : "a GC elsewhere may have taken it for dead, so this backup is not committed",
      "; retry when the store is healthy"));
}

void LockKeeper::Loop() {
  std::unique_lock<std::mutex> guard(mu_);
  while (!stopping_) {
    cv_.wait_for(guard, absl::ToChronoNanoseconds(CurrentLockTiming().refresh));
    if (stopping_) return;
    std::map<std::string, Held> snapshot = held_;
    guard.unlock();
    std::map<std::string, std::pair<absl::Time, bool>> written;  // when, and whether too late
    for (auto& [key, held] : snapshot) {
      const absl::Time now = absl::Now();
      // Lapsed: it may have been taken for dead, and deleted, elsewhere. Written again it would
      // look live while its holder fails (CheckFresh) and releases it.
      if (Lapsed(held, now)) continue;
      *held.lock.mutable_refreshed_at() = common::ToProto(now);
      if (absl::Status st = PutLock(storage_, key, held.lock); !st.ok()) {
        common::Log(common::LogLevel::kWarning, "repo",
                    absl::StrCat("cannot refresh lock '", key, "': ", st.message(),
                                 " (it goes stale if this lasts: a backup then fails rather "
                                 "than commit, a GC stops deleting)"));
        continue;
      }
      // A write that landed only after the old one had lapsed does not count: in between the
      // lock looked dead.
      written[key] = {now, Lapsed(held, absl::Now())};
    }
    guard.lock();
    for (const auto& [key, write] : written) {
      const auto& [at, too_late] = write;
      auto it = held_.find(key);
      if (it != held_.end()) {
        if (too_late) {
          it->second.lapsed = true;
          continue;
        }
        it->second.written = at;
        it->second.lock.mutable_refreshed_at()->CopyFrom(common::ToProto(at));
      } else {
        // Released while this pass rewrote it: delete it again (after the release's delete).
        guard.unlock();
        (void)storage_->Delete(key);
        guard.lock();
      }
    }
  }
}

}  // namespace mdb::repo
