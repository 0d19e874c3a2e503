// A bounded in-memory pipe between two threads: one writes a stream (e.g. a restore from the
// repository) while the other reads it (e.g. a tar or RDB reader), so nothing is held whole.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "io/stream.h"

namespace mdb::io {

// Write blocks while `max_buffered` bytes (default 16 MiB) are buffered; Read blocks until data or
// Finish. Abandon (reader gave up) makes further writes fail instead of blocking forever. Marks
// pass through in order: a Read never returns bytes from both sides of one.
class Pipe final : public ByteSink, public ByteSource {
 public:
  explicit Pipe(size_t max_buffered = 16 << 20) : max_(max_buffered) {}
  absl::Status Write(std::string_view data) override {
    return data.empty() ? absl::OkStatus() : WriteOwned(std::string(data));
  }
  absl::Status WriteOwned(std::string data) override {
    if (data.empty()) return absl::OkStatus();  // an empty piece would read as the end
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return buffered_ < max_ || abandoned_; });
    if (abandoned_) return absl::CancelledError("the reader stopped");
    buffered_ += data.size();
    pieces_.push_back({.data = std::move(data)});
    cv_.notify_all();
    return absl::OkStatus();
  }
  std::string Spare(size_t want) override {
    if (want < kSmallest) return std::string();
    std::lock_guard<std::mutex> lock(mu_);
    recycles_ = true;
    auto best = spares_.end();  // the smallest that fits
    for (auto it = spares_.begin(); it != spares_.end(); ++it) {
      const size_t room = it->capacity();
      if (room >= want && room / 2 <= want && (best == spares_.end() || room < best->capacity())) {
        best = it;
      }
    }
    if (best == spares_.end()) return std::string();
    std::string spare = std::move(*best);
    spares_.erase(best);
    spare_bytes_ -= spare.capacity();
    return spare;
  }
  absl::Status Close() override {
    Finish();
    return absl::OkStatus();
  }
  void Mark(Boundary boundary) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (abandoned_ || boundary == Boundary::kNone) return;
    if (!pieces_.empty() && pieces_.back().mark != Boundary::kNone) {  // one place: the stronger
      pieces_.back().mark = std::max(pieces_.back().mark, boundary);
      return;
    }
    pieces_.push_back({.mark = boundary});
    cv_.notify_all();
  }
  Boundary TakeMark() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !pieces_.empty() || closed_; });
    if (pieces_.empty() || pieces_.front().mark == Boundary::kNone) return Boundary::kNone;
    Boundary mark = pieces_.front().mark;
    pieces_.pop_front();
    return mark;
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
    if (!WaitForBytes(lock)) return 0;
    const std::string& front = pieces_.front().data;
    size_t k = std::min(n, front.size() - offset_);
    memcpy(buf, front.data() + offset_, k);
    Advance(k);
    return k;
  }
  // The front piece's bytes stay where they are until Consume: the writer only appends (a
  // deque's push_back moves no element) and only the reader pops.
  absl::StatusOr<std::string_view> Peek(size_t n) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!WaitForBytes(lock)) return std::string_view();
    return std::string_view(pieces_.front().data).substr(offset_, n);
  }
  void Consume(size_t n) override {
    std::lock_guard<std::mutex> lock(mu_);
    Advance(n);
  }
  std::optional<std::string> TakePiece(size_t min, size_t max) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!WaitForBytes(lock) || offset_ != 0) return std::nullopt;
    const size_t size = pieces_.front().data.size();
    if (size < min || size > max) return std::nullopt;
    std::string piece = std::move(pieces_.front().data);
    pieces_.pop_front();
    buffered_ -= size;
    cv_.notify_all();
    return piece;
  }

 private:
  // Waits for a piece of bytes at the front, skipping marks (a reader that takes no marks reads
  // past them); false at the end of the stream.
  bool WaitForBytes(std::unique_lock<std::mutex>& lock) {
    for (;;) {
      cv_.wait(lock, [&] { return !pieces_.empty() || closed_; });
      if (pieces_.empty()) return false;
      if (pieces_.front().mark == Boundary::kNone) return true;
      pieces_.pop_front();
    }
  }
  void Advance(size_t k) {
    const size_t size = pieces_.front().data.size();
    offset_ += k;
    if (offset_ == size) {
      buffered_ -= size;
      // Kept for Spare once the writer asks for them: a few, of a few MiB in all, none small.
      std::string& used = pieces_.front().data;
      if (recycles_ && used.capacity() >= kSmallest && spares_.size() < kSpares &&
          spare_bytes_ + used.capacity() <= kSpareBytes) {
        spare_bytes_ += used.capacity();
        spares_.push_back(std::move(used));
      }
      pieces_.pop_front();
      offset_ = 0;
      cv_.notify_all();
    }
  }

  static constexpr size_t kSpares = 4, kSpareBytes = 4 << 20, kSmallest = 64 << 10;
  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  struct Piece {
    std::string data;  // bytes, or none for a mark
    Boundary mark = Boundary::kNone;
  };
  std::deque<Piece> pieces_;
  std::vector<std::string> spares_;
  size_t spare_bytes_ = 0;
  bool recycles_ = false;
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
