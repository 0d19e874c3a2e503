#include "io/direct.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mdb::io {
namespace {

void StopDirect(int fd, bool* direct) {
  if (!*direct) return;
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_DIRECT);
  *direct = false;
}

}  // namespace

bool TryDirect(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
}

std::unique_ptr<char, void (*)(void*)> AlignedBuffer(size_t size) {
  size = (size + kDirectAlign - 1) / kDirectAlign * kDirectAlign;  // aligned_alloc's rule
  return {static_cast<char*>(aligned_alloc(kDirectAlign, size)), &free};
}

absl::Status WriteMaybeDirect(int fd, const char* p, size_t n, uint64_t offset, bool* direct,
                              absl::string_view path) {
  if (*direct) {
    const size_t whole = n / kDirectAlign * kDirectAlign;
    size_t done = 0;
    while (done < whole) {
      ssize_t w = pwrite(fd, p + done, whole - done, static_cast<off_t>(offset + done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EINVAL) break;  // an alignment this filesystem will not take
      if (w <= 0) return WriteFailed("write", path, errno);
      done += static_cast<size_t>(w);
      if (done % kDirectAlign != 0) break;  // a short write: what is left is not aligned
    }
    p += done;
    n -= done;
    offset += done;
    if (n == 0) return absl::OkStatus();
    StopDirect(fd, direct);
  }
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return WriteFailed("write", path, errno);
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return absl::OkStatus();
}

DirectFileSink::DirectFileSink(int fd, std::string path)
    : fd_(fd), path_(std::move(path)), direct_(TryDirect(fd)), buf_(AlignedBuffer(kBlock)) {}

absl::Status DirectFileSink::Flush() {
  absl::Status st = WriteMaybeDirect(fd_, buf_.get(), used_, offset_, &direct_, path_);
  offset_ += used_;
  used_ = 0;
  return st;
}

absl::Status DirectFileSink::Write(std::string_view data) {
  if (!buf_) return absl::ResourceExhaustedError("no memory for a direct write buffer");
  while (!data.empty()) {
    const size_t k = std::min(data.size(), kBlock - used_);
    memcpy(buf_.get() + used_, data.data(), k);
    used_ += k;
    data.remove_prefix(k);
    if (used_ == kBlock) {
      if (absl::Status st = Flush(); !st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

absl::Status DirectFileSink::Close() {
  if (buf_ && used_ > 0) {
    if (absl::Status st = Flush(); !st.ok()) return st;
  }
  if (fsync(fd_) != 0) {
    return absl::UnavailableError(absl::StrCat("fsync '", path_, "': ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace mdb::io
