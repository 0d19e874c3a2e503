#include "common/periodic.h"

namespace mdb::common {

void Periodic::Start(absl::Duration period, std::function<void()> fn) {
  thread_ = std::thread([this, period, fn = std::move(fn)] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      lock.unlock();
      fn();
      lock.lock();
      cv_.wait_for(lock, absl::ToChronoNanoseconds(period), [this] { return stopping_; });
    }
  });
}

void Periodic::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace mdb::common
