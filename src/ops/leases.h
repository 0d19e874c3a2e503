// This instance's named leases over the shared catalog: what several instances use to agree on
// who does a piece of work that must be done once (GC, a cluster's journal archiving, the day's
// automated backup of a cluster). With one instance (SQLite) it always holds them; the rows
// still say who it is.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "catalog/catalog.h"
#include "ops/scheduler.h"

namespace mdb::ops {

class Leases {
 public:
  Leases(catalog::Catalog* catalog, std::string owner, const Clock* clock)
      : catalog_(catalog), owner_(std::move(owner)), clock_(clock) {}

  // Takes or renews `name` until `until`: true, or false when another instance holds it. An
  // error when the catalog cannot be reached: the caller must then act as if it did not hold
  // it (stop what it guards), and must not take it for another's either (try again).
  absl::StatusOr<bool> HoldUntil(const std::string& name, absl::Time until);
  absl::StatusOr<bool> Hold(const std::string& name, absl::Duration ttl) {
    return HoldUntil(name, Now() + ttl);
  }
  // Hands `name` back now rather than when it runs out (logged when the catalog refuses).
  absl::Status Release(const std::string& name);
  // At shutdown: every lease of this instance named `prefix`..., in one catalog statement (with
  // the catalog away, one wait; they then run out by themselves).
  void ReleaseAll(const std::string& prefix);

  const std::string& owner() const { return owner_; }
  absl::Time Now() const { return clock_->Now(); }

 private:
  catalog::Catalog* catalog_;
  std::string owner_;
  const Clock* clock_;
};

// The scheduler's trigger, run on one instance per window: the first instance to hold
// "automated/<cluster>" until well into the window's day runs it; the others take the window
// as done. An instance that holds it and cannot start (a backup still running), or that could
// not reach the catalog, tries again at the next tick.
Scheduler::Trigger OnOneInstance(Leases* leases, Scheduler::Trigger trigger);

}  // namespace mdb::ops
