#include "ops/gc_loop.h"

#include "absl/strings/str_cat.h"
#include "repo/repository.h"

namespace mdb::ops {

GcLoop::GcLoop(const Clock* clock, Gc gc, Log log, Options options)
    : clock_(clock),
      gc_(std::move(gc)),
      log_(std::move(log)),
      options_(options),
      next_(clock->Now() + options.retry),  // soon after start: a restart may follow a crash
      backoff_(options.retry) {}

GcLoop::~GcLoop() { Stop(); }

absl::Time GcLoop::next() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_;
}

void GcLoop::Schedule(const absl::Status& result) {
  const absl::Time now = clock_->Now();
  if (result.ok()) {
    backoff_ = options_.retry;
    next_ = now + options_.interval;
  } else if (repo::HeldBy(result, /*gc=*/false)) {
    next_ = now + options_.retry;  // a backup is being written: not a failure
  } else {
    next_ = now + backoff_;
    backoff_ = std::min(backoff_ * 2, options_.interval);
  }
}

bool GcLoop::Tick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (clock_->Now() < next_) return false;
  }
  absl::Status st = gc_();  // not under mu_: a GC takes long, Failed() must not wait for it
  std::lock_guard<std::mutex> lock(mu_);
  Schedule(st);
  if (!st.ok() && log_) {
    log_(absl::StrCat("garbage collection: ", st.message(), "; next try in ",
                      absl::FormatDuration(next_ - clock_->Now())));
  }
  return true;
}

void GcLoop::Failed() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Time retry = clock_->Now() + backoff_;
  if (retry < next_) next_ = retry;
  backoff_ = std::min(backoff_ * 2, options_.interval);
}

void GcLoop::Start() {
  ticker_.Start(options_.tick, [this] { Tick(); });
}

void GcLoop::Stop() { ticker_.Stop(); }

}  // namespace mdb::ops
