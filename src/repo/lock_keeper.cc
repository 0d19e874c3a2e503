#include "repo/lock_keeper.h"

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
  held_[key] = lock;
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void LockKeeper::Release(const std::string& key) {
  std::lock_guard<std::mutex> guard(mu_);
  held_.erase(key);
  (void)storage_->Delete(key);  // a lock left behind goes stale; GC removes it then
}

void LockKeeper::Loop() {
  std::unique_lock<std::mutex> guard(mu_);
  while (!stopping_) {
    cv_.wait_for(guard, absl::ToChronoNanoseconds(CurrentLockTiming().refresh));
    if (stopping_) return;
    // Under the mutex: a Release waits for this pass, and no refresh follows its delete.
    for (auto& [key, lock] : held_) {
      *lock.mutable_refreshed_at() = common::ToProto(absl::Now());
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(lock, &json);
      if (absl::Status st = storage_->Put(key, json); !st.ok()) {
        common::Log(common::LogLevel::kWarning, "repo",
                    "cannot refresh lock '" + key + "': " + std::string(st.message()) +
                        " (it goes stale if this lasts; GC elsewhere may then start)");
      }
    }
  }
}

}  // namespace mdb::repo
