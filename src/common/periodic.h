// A background thread that calls a function every period until stopped; Stop wakes it at once
// rather than after the rest of a period (the scheduler and the periodic GC tick this way).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/time/time.h"

namespace mdb::common {

class Periodic {
 public:
  Periodic() = default;
  ~Periodic() { Stop(); }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

  // Calls `fn` now and then every `period` on a new thread. Once per object.
  void Start(absl::Duration period, std::function<void()> fn);
  // Waits for a call in progress to return; no call starts after this.
  void Stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mdb::common
