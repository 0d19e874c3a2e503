// A bounded in-memory pipe between two threads: one writes a stream (e.g. a restore from the
// repository) while the other reads it (e.g. a tar or RDB reader), so nothing is held whole.
#pragma once

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>

#include "io/stream.h"

namespace mdb::io {

// Write blocks while `max_buffered` bytes (default 16 MiB) are buffered; Read blocks until data or
// Finish. Abandon (reader gave up) makes further writes fail instead of blocking forever. Marks
// pass through in order: a Read never returns bytes from both sides of one.
class Pipe final : public ByteSink, public ByteSource {
 public:
  explicit Pipe(size_t max_buffered = 16 << 20) : max_(max_buffered) {}
  absl::Status Write(std::string_view data) override {
    if (data.empty()) return absl::OkStatus();  // an empty piece is how a mark is kept
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return buffered_ < max_ || abandoned_; });
    if (abandoned_) return absl::CancelledError("the reader stopped");
    chunks_.emplace_back(data);
    buffered_ += data.size();
    cv_.notify_all();
    return absl::OkStatus();
  }
  absl::Status Close() override {
    Finish();
    return absl::OkStatus();
  }
  void Mark() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (abandoned_ || (!chunks_.empty() && chunks_.back().empty())) return;  // one is enough
    chunks_.emplace_back();
    cv_.notify_all();
  }
  bool TakeMark() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !chunks_.empty() || closed_; });
    if (chunks_.empty() || !chunks_.front().empty()) return false;
    chunks_.pop_front();
    return true;
  }
  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  void Abandon() {
    std::lock_guard<std::mutex> lock(mu_);
    abandoned_ = true;
    cv_.notify_all();
  }
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {  // a reader that takes no marks skips them
      cv_.wait(lock, [&] { return !chunks_.empty() || closed_; });
      if (chunks_.empty()) return 0;
      if (!chunks_.front().empty()) break;
      chunks_.pop_front();
    }
    std::string& front = chunks_.front();
    size_t k = std::min(n, front.size() - offset_);
    memcpy(buf, front.data() + offset_, k);
    offset_ += k;
    if (offset_ == front.size()) {
      buffered_ -= front.size();
      chunks_.pop_front();
      offset_ = 0;
      cv_.notify_all();
    }
    return k;
  }

 private:
  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;
  size_t offset_ = 0, buffered_ = 0;
  bool closed_ = false, abandoned_ = false;
};

// The outcome of a pipe's two ends: the producer's error unless it only stopped because the
// consumer abandoned the pipe (Cancelled), in which case the consumer's error is the cause.
inline absl::Status PipeResult(const absl::Status& producer, const absl::Status& consumer) {
  if (!producer.ok() && !(absl::IsCancelled(producer) && !consumer.ok())) return producer;
  return consumer;
}

}  // namespace mdb::io
