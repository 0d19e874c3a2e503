#include "ops/leases.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/time_util.h"

namespace mdb::ops {

absl::StatusOr<bool> Leases::HoldUntil(const std::string& name, absl::Time until) {
  auto held = catalog_->TryLease(name, owner_, Now(), until);
  if (!held.ok()) {
    common::Log(common::LogLevel::kWarning, "ops",
                absl::StrCat("lease '", name, "': ", held.status().message(),
                             " (not held until the catalog answers)"));
  }
  return held;
}

absl::Status Leases::Release(const std::string& name) {
  absl::Status st = catalog_->ReleaseLease(name, owner_);
  if (!st.ok()) {
    common::Log(common::LogLevel::kWarning, "ops",
                absl::StrCat("lease '", name, "': ", st.message(), " (it runs out by itself)"));
  }
  return st;
}

void Leases::ReleaseAll(const std::string& prefix) {
  if (absl::Status st = catalog_->ReleaseLeases(prefix, owner_); !st.ok()) {
    common::Log(
        common::LogLevel::kWarning, "ops",
        absl::StrCat("leases '", prefix, "...': ", st.message(), " (they run out by themselves)"));
  }
}

Scheduler::Trigger OnOneInstance(Leases* leases, Scheduler::Trigger trigger) {
  return [leases, trigger = std::move(trigger)](const common::ClusterConfig& cluster,
                                                absl::Time window) {
    // Until 20 hours into the window's day: past any instance's clock skew and its retries,
    // and free again before the next window (24 hours on).
    auto held = leases->HoldUntil(absl::StrCat("automated/", cluster.id), window + absl::Hours(20));
    if (!held.ok()) return Scheduler::Triggered{};  // the catalog is away: the next tick
    if (!*held) {  // once per window and instance: the scheduler does not ask again
      common::Log(common::LogLevel::kInfo, "ops",
                  absl::StrCat("automated backup of '", cluster.id, "': another instance has the ",
                               "window of ", common::UtcText(window), " (lease 'automated/",
                               cluster.id, "')"));
      return Scheduler::Triggered{.started = true};
    }
    return trigger(cluster, window);
  };
}

}  // namespace mdb::ops
