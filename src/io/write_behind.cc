#include "io/write_behind.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace mdb::io {
namespace {

// sync_file_range refuses only what it cannot do for this file (EINVAL: a range or flags it does
// not take; ESPIPE: not a file; ENOSYS): the final sync is left to do it. Every other error is a
// write-back that failed, and the wait has taken it from the file: it must be reported here, or
// the fsync that follows would find nothing wrong.
absl::Status Waited(int rc, absl::string_view path) {
  if (rc == 0) return absl::OkStatus();
  const int err = errno;
  if (err == EINVAL || err == ESPIPE || err == ENOSYS) return absl::OkStatus();
  return WriteFailed("write-back of", path, err);
}

constexpr unsigned int kWait =
    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;

}  // namespace

absl::Status WriteBehind::Write(const char* p, size_t n, uint64_t offset) {
  if (n == 0) return absl::OkStatus();
  if (offset != end_) in_order_ = false;
  for (uint64_t at = offset; n > 0;) {
    ssize_t w = pwrite(fd_, p, n, static_cast<off_t>(at));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return WriteFailed("write", path_, w < 0 ? errno : ENOSPC);
    p += w;
    n -= static_cast<size_t>(w);
    at += static_cast<uint64_t>(w);
    end_ = at;
  }
  if (!in_order_) return absl::OkStatus();
  // Started a step at a time (a request the device takes whole), never waited for here.
  if (end_ - kicked_ >= kStep) {
    (void)sync_(fd_, static_cast<off_t>(kicked_), static_cast<off_t>(end_ - kicked_),
                SYNC_FILE_RANGE_WRITE);
    kicked_ = end_;
  }
  // A window behind: wait for what was started, then drop it (advice only: pages still dirty,
  // or a tmpfs's, stay where they are).
  while (kicked_ - dropped_ > kWindow) {
    const uint64_t k = std::min(kStep, kicked_ - dropped_ - kWindow);
    const int rc = sync_(fd_, static_cast<off_t>(dropped_), static_cast<off_t>(k), kWait);
    if (absl::Status st = Waited(rc, path_); !st.ok()) return st;
    if (rc == 0) {
      (void)posix_fadvise(fd_, static_cast<off_t>(dropped_), static_cast<off_t>(k),
                          POSIX_FADV_DONTNEED);
    }
    dropped_ += k;
  }
  return absl::OkStatus();
}

void WriteBehind::Kick() {
  if (!in_order_) {
    (void)sync_(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);  // 0, 0: the whole file
  } else if (end_ > kicked_) {
    (void)sync_(fd_, static_cast<off_t>(kicked_), static_cast<off_t>(end_ - kicked_),
                SYNC_FILE_RANGE_WRITE);
    kicked_ = end_;
  }
}

absl::Status WaitWritten(int fd, const std::string& path, SyncRange sync) {
  return Waited(sync(fd, 0, 0, kWait), path);
}

WrittenFiles::~WrittenFiles() {
  for (auto& [fd, path] : pending_) close(fd);
}

absl::Status WrittenFiles::WaitOldest() {
  auto [fd, path] = std::move(pending_.front());
  pending_.pop_front();
  absl::Status st = WaitWritten(fd, path, sync_);
  close(fd);
  return st;
}

absl::Status WrittenFiles::Add(int fd, std::string path) {
  pending_.emplace_back(fd, std::move(path));
  absl::Status st;
  while (st.ok() && pending_.size() > depth_) st = WaitOldest();
  return st;
}

absl::Status WrittenFiles::Finish() {
  absl::Status st;
  while (st.ok() && !pending_.empty()) st = WaitOldest();
  return st;
}

WriteBehindSink::WriteBehindSink(int fd, std::string path)
    : file_(fd, std::move(path)), buf_(new (std::nothrow) char[WriteBehind::kStep]) {}

absl::Status WriteBehindSink::Flush() {
  absl::Status st = file_.Write(buf_.get(), used_, offset_);
  if (st.ok()) offset_ += used_;
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
  if (fsync(file_.fd()) != 0) {
    return absl::UnavailableError(absl::StrCat("fsync '", file_.path(), "': ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace mdb::io
