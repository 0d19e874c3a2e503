// Writing restored files through the page cache without letting them fill it ("write-behind").
//
// A restore writes each byte once and never reads it back. Written plainly, its pages pile up
// dirty in the cache and the final sync waits for all of them; on a host whose fresh cache pages
// are expensive that copy was the restore's bound (250 MB/s, session 15). O_DIRECT avoids the
// cache but keeps one synchronous write in flight, so the device idles between writes: on
// another host direct writes ran at 400-600 MB/s whatever their size or number of writers. Here
// each block's write-back starts as soon as it is written, and a window behind, the writer waits
// for it and drops the pages: the device always has the window's worth of requests queued, a
// file holds at most the window in the cache, and its pages are reused rather than freshly
// allocated. BENCHMARKS.md "Restores written behind" has the measurements (bench/io/write_modes).
#pragma once

#include <fcntl.h>  // sync_file_range
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "io/stream.h"

namespace mdb::io {

// sync_file_range's signature: the system call, or a test's stand-in.
using SyncRange = int (*)(int fd, off_t offset, off_t nbytes, unsigned int flags);

// One file's writes (does not own `fd`). Writes that continue where the previous one ended are
// written behind; once a write lands elsewhere (a page of an incremental), the file's writes are
// written plainly and Kick starts the whole file's write-back.
class WriteBehind {
 public:
  WriteBehind(int fd, std::string path, SyncRange sync = &::sync_file_range)
      : fd_(fd), path_(std::move(path)), sync_(sync) {}

  // pwrite of [p, p + n) at `offset`, all of it. UNAVAILABLE when the file system refuses it or
  // reports that write-back failed (a full disk, an I/O error).
  absl::Status Write(const char* p, size_t n, uint64_t offset);

  // Starts write-back of what is not on its way yet, without waiting (WrittenFiles waits).
  void Kick();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // How far behind the last write its pages are waited for and dropped, and how much is started
  // or retired at once.
  static constexpr uint64_t kWindow = 16 << 20;
  static constexpr uint64_t kStep = 1 << 20;

 private:
  int fd_;
  std::string path_;
  SyncRange sync_;
  bool in_order_ = true;  // every write so far continued the one before
  uint64_t end_ = 0;      // where the in-order writes end
  uint64_t kicked_ = 0;   // write-back started below this
  uint64_t dropped_ = 0;  // written back and dropped from the cache below this
};

// Waits until the write-back of all of `fd`'s dirty pages is done; UNAVAILABLE with `path` when
// it failed. Not a sync: the file's metadata and the device's cache are the caller's fsync's.
absl::Status WaitWritten(int fd, const std::string& path, SyncRange sync = &::sync_file_range);

// Files whose write-back was started, each waited for a few files later (WaitWritten), then
// closed: the restore goes on writing while the disk catches up, and a failed write-back of any
// file, its last window, a small file or an incremental's pages, is the restore's error, whatever
// the kernel's syncfs reports (it reports write-back errors only since Linux 5.8). Owns the
// descriptors it is given.
class WrittenFiles {
 public:
  explicit WrittenFiles(size_t depth = 16, SyncRange sync = &::sync_file_range)
      : depth_(depth), sync_(sync) {}
  ~WrittenFiles();  // closes what is left unwaited: only an error path leaves any
  WrittenFiles(const WrittenFiles&) = delete;
  WrittenFiles& operator=(const WrittenFiles&) = delete;

  // Takes `fd`; waits for the oldest file once more than `depth` are pending.
  absl::Status Add(int fd, std::string path);
  // Waits for every file still pending.
  absl::Status Finish();

 private:
  absl::Status WaitOldest();

  size_t depth_;
  SyncRange sync_;
  std::deque<std::pair<int, std::string>> pending_;
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
  std::unique_ptr<char[]> buf_;
  size_t used_ = 0;
  uint64_t offset_ = 0;
};

}  // namespace mdb::io
