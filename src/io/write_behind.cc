#include "io/write_behind.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mdb::io {
namespace {

absl::Status Failed(absl::string_view what, absl::string_view path, int err) {
  // UNAVAILABLE either way (space is the operator's to free, then the work is retried); said
  // in the same words as the storage driver's other writes.
  const bool full = err == ENOSPC || err == EDQUOT;
  return absl::UnavailableError(absl::StrCat(what, " '", path, "': ", strerror(err),
                                             full ? " (the file system holding it is full)" : ""));
}

}  // namespace

absl::Status WriteBehind::Write(const char* p, size_t n, uint64_t offset) {
  if (offset != end_) in_order_ = false;
  for (uint64_t at = offset; n > 0;) {
    ssize_t w = pwrite(fd_, p, n, static_cast<off_t>(at));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Failed("write", path_, w < 0 ? errno : ENOSPC);
    p += w;
    n -= static_cast<size_t>(w);
    at += static_cast<uint64_t>(w);
    end_ = at;
  }
  if (!in_order_) return absl::OkStatus();
  // Started a step at a time (a request the device takes whole), never waited for here.
  if (end_ - kicked_ >= kStep) {
    (void)sync_file_range(fd_, static_cast<off_t>(kicked_), static_cast<off_t>(end_ - kicked_),
                          SYNC_FILE_RANGE_WRITE);
    kicked_ = end_;
  }
  // A window behind: wait for what was started and drop it. sync_file_range's WAIT flags report
  // a failed write-back (EIO, or ENOSPC where space is only taken then); anything else it says
  // (a file system without it) leaves the pages to the final sync.
  while (kicked_ - dropped_ > kWindow) {
    const uint64_t k = std::min(kStep, kicked_ - dropped_ - kWindow);
    if (sync_file_range(fd_, static_cast<off_t>(dropped_), static_cast<off_t>(k),
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
      const int err = errno;
      if (err == EIO || err == ENOSPC || err == EDQUOT) return Failed("write-back of", path_, err);
    } else {
      // Advice only: pages still dirty (or a tmpfs's) stay where they are.
      (void)posix_fadvise(fd_, static_cast<off_t>(dropped_), static_cast<off_t>(k),
                          POSIX_FADV_DONTNEED);
    }
    dropped_ += k;
  }
  return absl::OkStatus();
}

void WriteBehind::Kick() {
  if (in_order_) {
    if (end_ > kicked_) {
      (void)sync_file_range(fd_, static_cast<off_t>(kicked_), static_cast<off_t>(end_ - kicked_),
                            SYNC_FILE_RANGE_WRITE);
    }
  } else {
    (void)sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);  // 0, 0: the whole file
  }
  kicked_ = end_;
}

WriteBehindSink::WriteBehindSink(int fd, std::string path)
    : file_(fd, path),
      path_(std::move(path)),
      fd_(fd),
      buf_(new (std::nothrow) char[WriteBehind::kStep]) {}

absl::Status WriteBehindSink::Flush() {
  absl::Status st = file_.Write(buf_.get(), used_, offset_);
  offset_ += used_;
  used_ = 0;
  return st;
}

absl::Status WriteBehindSink::Write(std::string_view data) {
  if (!buf_) return absl::ResourceExhaustedError("no memory for a file's write buffer");
  while (!data.empty()) {
    const size_t k = std::min<size_t>(data.size(), WriteBehind::kStep - used_);
    memcpy(buf_.get() + used_, data.data(), k);
    used_ += k;
    data.remove_prefix(k);
    if (used_ == WriteBehind::kStep) {
      if (absl::Status st = Flush(); !st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

absl::Status WriteBehindSink::Close() {
  if (buf_ && used_ > 0) {
    if (absl::Status st = Flush(); !st.ok()) return st;
  }
  if (fsync(fd_) != 0) {
    return absl::UnavailableError(absl::StrCat("fsync '", path_, "': ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace mdb::io
