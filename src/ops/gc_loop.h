// Garbage collection that runs by itself: every `interval`, and again soon after a GC that failed
// (S3 down, a full disk) with a doubling backoff, so that space freed by deletes is not left
// behind until someone runs `mdb-backup repo gc` by hand. A GC refused because a backup is being
// written is not a failure: it is tried again after `retry`.
#pragma once

#include <functional>
#include <mutex>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/periodic.h"
#include "ops/scheduler.h"

namespace mdb::ops {

class GcLoop {
 public:
  struct Options {
    absl::Duration interval = absl::Hours(6);  // between successful runs
    absl::Duration retry = absl::Minutes(1);   // first retry after a failure; doubles to interval
    absl::Duration tick = absl::Seconds(10);   // how often the thread looks at the clock
  };
  using Gc = std::function<absl::Status()>;
  using Log = std::function<void(const std::string&)>;

  GcLoop(const Clock* clock, Gc gc, Log log, Options options);
  ~GcLoop();

  // Runs the GC if it is due; returns whether it ran.
  bool Tick();
  // Someone else's GC failed (after a delete, a failed backup): retry on the backoff schedule.
  void Failed();
  absl::Time next() const;

  // Ticks on a background thread until Stop or destruction.
  void Start();
  void Stop();

 private:
  void Schedule(const absl::Status& result);  // with mu_ held

  const Clock* clock_;
  Gc gc_;
  Log log_;
  Options options_;
  mutable std::mutex mu_;
  absl::Time next_;
  absl::Duration backoff_;
  common::Periodic ticker_;
};

}  // namespace mdb::ops
