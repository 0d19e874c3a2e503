// Writing restored files through the page cache without letting them fill it ("write-behind").
//
// A restore writes each byte once and never reads it back. Written plainly, its pages pile up
// dirty in the cache and the final sync waits for all of them; on a host whose fresh cache pages
// are expensive that copy was the restore's bound (250 MB/s, session 15). O_DIRECT avoids the
// cache but keeps one synchronous write in flight, so the device idles between writes: on
// another host direct writes ran at 400-600 MB/s whatever their size or number of threads. Here
// each block's write-back starts as soon as it is written, and a window behind, the writer waits
// for it and drops the pages: the device always has the window's worth of requests queued, the
// cache holds at most the window per file, and its pages are reused rather than freshly
// allocated. BENCHMARKS.md "Write-behind restores" has the measurements (1.5 GB in 1.6-1.8 s,
// against 2.9-3.9 s direct and 2.5-2.7 s plainly buffered on one host).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "io/stream.h"

namespace mdb::io {

// One file's writes (does not own `fd`). Writes that continue where the previous one ended are
// written behind; a write elsewhere (a page of an incremental) is written plainly and the whole
// file's write-back is started by Kick.
class WriteBehind {
 public:
  WriteBehind(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  // pwrite of [p, p + n) at `offset`, all of it. UNAVAILABLE when the file system refuses it or
  // reports that write-back failed (a full disk, an I/O error).
  absl::Status Write(const char* p, size_t n, uint64_t offset);

  // Starts write-back of what is not on its way yet, without waiting: the caller's fsync or
  // syncfs is what makes the file durable.
  void Kick();

  // How far behind the last write its pages are waited for and dropped, and how much is started
  // or retired at once.
  static constexpr uint64_t kWindow = 16 << 20;
  static constexpr uint64_t kStep = 1 << 20;

 private:
  int fd_;
  std::string path_;
  bool in_order_ = true;  // every write so far continued the one before
  uint64_t end_ = 0;      // where the in-order writes end
  uint64_t kicked_ = 0;   // write-back started below this
  uint64_t dropped_ = 0;  // written back and dropped from the cache below this
};

// A sink writing one new file from its start, written behind in blocks of WriteBehind::kStep,
// then synced at Close. Does not own `fd`.
class WriteBehindSink final : public ByteSink {
 public:
  WriteBehindSink(int fd, std::string path);
  absl::Status Write(std::string_view data) override;
  absl::Status Close() override;  // the last block, then fsync

 private:
  absl::Status Flush();

  WriteBehind file_;
  std::string path_;
  int fd_;
  std::unique_ptr<char[]> buf_;
  size_t used_ = 0;
  uint64_t offset_ = 0;
};

}  // namespace mdb::io
