// Byte streams between engines and the repository: a source is read until it ends, a sink is
// written in order. Both are used by one thread at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mdb::io {

// A place a producer marks in its stream for a chunker (ByteSink::Mark): where a chunk may end
// (once it is big enough), or where one must (a record's header that changes with the record,
// kept out of the chunk of its data).
enum class Boundary { kNone, kMay, kMust };

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes into `buf`; returns how many were read, 0 at the end of the stream.
  // Blocks until at least one byte or the end is available.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
  // The producer's mark at the place the next Read starts at (ByteSink::Mark), kNone if none.
  // Consumes the mark; may block until that is known. Sources that carry marks never return
  // bytes from both sides of one in a Read. Most sources carry none.
  virtual Boundary TakeMark() { return Boundary::kNone; }
  // Where a source holds its next bytes in memory (a Pipe): a view of up to `n` of them, without
  // copying them (empty at the end of the stream), valid until Consume says how many of them
  // were used. Blocks as Read does. Other sources: UNIMPLEMENTED (Read instead).
  virtual absl::StatusOr<std::string_view> Peek(size_t n) {
    return absl::UnimplementedError("this source only copies out (Read)");
  }
  virtual void Consume(size_t n) {}
  // Where a source holds its bytes as the pieces its writer handed over (a Pipe fed by
  // ByteSink::WriteOwned): the next piece, moved out instead of copied, when none of it was read
  // yet and it holds `min` to `max` bytes. Blocks as Read does, and like Read passes over a mark
  // not taken first (TakeMark) and ends a Peek's view. nullopt otherwise, and at the end: Read
  // then. Lets a chunker take a producer's page group as its chunk without a copy.
  virtual std::optional<std::string> TakePiece(size_t min, size_t max) {
    (void)min, (void)max;
    return std::nullopt;
  }
};

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Writes all of `data`.
  [[nodiscard]] virtual absl::Status Write(std::string_view data) = 0;
  // The same for bytes the caller is done with: a sink that keeps what it is given (a Pipe)
  // takes them instead of copying them.
  [[nodiscard]] virtual absl::Status WriteOwned(std::string data) { return Write(data); }
  // A string given to WriteOwned that this sink is done with (a Pipe's piece its reader used up),
  // with room for `want` bytes and not more than twice that, for the writer to fill next instead
  // of a new one: resized to `want` it is not zero-filled up to its old size, nor faulted in
  // again. Empty when there is none (and for small `want`, where a new one costs little).
  virtual std::string Spare(size_t want) {
    (void)want;
    return std::string();
  }
  // Flushes and makes the data durable where that applies (files are fsync'd).
  [[nodiscard]] virtual absl::Status Close() { return absl::OkStatus(); }
  // Marks the place after the bytes written so far (Boundary); a hint that sinks which are no
  // chunker's source ignore.
  virtual void Mark(Boundary boundary) { (void)boundary; }
};

// Reads a file descriptor (not owned).
class FdSource final : public ByteSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;

 private:
  int fd_;
};

// Writes a file descriptor (not owned); Close fsyncs regular files.
class FdSink final : public ByteSink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  absl::Status Write(std::string_view data) override;
  absl::Status Close() override;

 private:
  int fd_;
};

class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;

 private:
  std::string data_;
  size_t pos_ = 0;
};

class StringSink final : public ByteSink {
 public:
  absl::Status Write(std::string_view data) override {
    data_.append(data);
    return absl::OkStatus();
  }
  const std::string& data() const { return data_; }

 private:
  std::string data_;
};

// Forwards to `inner` until `cancelled` is set, then fails every write with CANCELLED (`why`):
// how a copy between two parts that know nothing of operations (a repository stream into a
// restore's pipe) stops at a cancel, between two writes.
class CancellableSink final : public ByteSink {
 public:
  CancellableSink(ByteSink* inner, const std::atomic<bool>* cancelled, std::string why)
      : inner_(inner), cancelled_(cancelled), why_(std::move(why)) {}
  absl::Status Write(std::string_view data) override {
    if (Cancelled()) return absl::CancelledError(why_);
    return inner_->Write(data);
  }
  absl::Status WriteOwned(std::string data) override {
    if (Cancelled()) return absl::CancelledError(why_);
    return inner_->WriteOwned(std::move(data));
  }
  std::string Spare(size_t want) override { return inner_->Spare(want); }
  absl::Status Close() override { return inner_->Close(); }
  void Mark(Boundary boundary) override { inner_->Mark(boundary); }
  // Whether the cancel, and not `inner`, ended the copy: a CANCELLED from `inner` (an abandoned
  // pipe, after the reader failed for its own reason) is not a cancel. Readable from any thread.
  bool refused() const { return refused_.load(); }

 private:
  bool Cancelled() {
    if (!cancelled_ || !cancelled_->load()) return false;
    refused_.store(true);
    return true;
  }
  ByteSink* inner_;
  const std::atomic<bool>* cancelled_;
  std::string why_;
  std::atomic<bool> refused_{false};
};

// Reads until `n` bytes are read or the source ends; returns the count.
absl::StatusOr<size_t> ReadFull(ByteSource* source, char* buf, size_t n);
// ReadFull into a string of their own (shorter only at the end), for a sink's WriteOwned: copied
// once, out of where the source holds them (Peek), when it does.
absl::StatusOr<std::string> ReadOwned(ByteSource* source, size_t n);

// A write to the file `path` that failed with `err` (`what`: "write", "write-back of"):
// UNAVAILABLE either way (space is the operator's to free, then the work is retried), saying so
// when the file system is full, in the same words as the storage driver's other writes.
absl::Status WriteFailed(absl::string_view what, absl::string_view path, int err);

}  // namespace mdb::io
