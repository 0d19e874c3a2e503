// File-descriptor streams retry EINTR and short writes; fsync on close only where it means
// something (regular files), so pipes and sockets can be sinks too.
#include "io/stream.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mdb::io {

absl::StatusOr<size_t> FdSource::Read(char* buf, size_t n) {
  for (;;) {
    ssize_t got = read(fd_, buf, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) return absl::UnavailableError(absl::StrCat("read: ", strerror(errno)));
  }
}

absl::Status FdSink::Write(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("write: ", strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FdSink::Close() {
  struct stat st;
  if (fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && fsync(fd_) != 0) {
    return absl::UnavailableError(absl::StrCat("fsync: ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> StringSource::Read(char* buf, size_t n) {
  size_t k = std::min(n, data_.size() - pos_);
  memcpy(buf, data_.data() + pos_, k);
  pos_ += k;
  return k;
}

absl::StatusOr<size_t> ReadFull(ByteSource* source, char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    auto got = source->Read(buf + done, n - done);
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    done += *got;
  }
  return done;
}

absl::StatusOr<std::string> ReadOwned(ByteSource* source, size_t n) {
  std::string out;
  absl::StatusOr<std::string_view> view = source->Peek(n);
  if (absl::IsUnimplemented(view.status())) {
    out.resize(n);
    absl::StatusOr<size_t> got = ReadFull(source, out.data(), n);
    if (!got.ok()) return got.status();
    out.resize(*got);
    return out;
  }
  out.reserve(n);  // not zero-filled, unlike the resize above
  for (;;) {
    if (!view.ok()) return view.status();
    const std::string_view got = view->substr(0, n - out.size());
    if (got.empty()) break;
    out.append(got);
    source->Consume(got.size());
    if (out.size() >= n) break;
    view = source->Peek(n - out.size());
  }
  return out;
}

absl::Status WriteFailed(absl::string_view what, absl::string_view path, int err) {
  const bool full = err == ENOSPC || err == EDQUOT;
  return absl::UnavailableError(absl::StrCat(what, " '", path, "': ", strerror(err),
                                             full ? " (the file system holding it is full)" : ""));
}

}  // namespace mdb::io
