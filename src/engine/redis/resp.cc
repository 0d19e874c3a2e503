// Timeouts turn a dead server into an error instead of a hang: every read first polls for at most
// the connection's timeout (seeing a cancel meanwhile), and writes have SO_SNDTIMEO. The
// replication stream sends newlines while the server prepares the snapshot, so a long BGSAVE does
// not trip them.
#include "engine/redis/resp.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace mdb::engine::redis {

std::string EncodeCommand(const std::vector<std::string>& args) {
  std::string out = absl::StrCat("*", args.size(), "\r\n");
  for (const auto& a : args) absl::StrAppend(&out, "$", a.size(), "\r\n", a, "\r\n");
  return out;
}

absl::StatusOr<std::unique_ptr<RespConn>> RespConn::Connect(const std::string& address,
                                                            absl::Duration timeout) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("address '", address, "' is not host:port"));
  }
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError(absl::StrCat("redis ", address, ": ", gai_strerror(rc)));
  }
  int fd = -1;
  int err = 0;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    timeval tv{.tv_sec = static_cast<time_t>(absl::ToInt64Seconds(timeout)), .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    err = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("redis ", address, ": cannot connect: ", strerror(err)));
  }
  return std::unique_ptr<RespConn>(new RespConn(fd, address, timeout));
}

RespConn::~RespConn() { close(fd_); }

absl::StatusOr<std::string> RespConn::LocalIp() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return absl::InternalError(absl::StrCat("getsockname: ", strerror(errno)));
  }
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof(host), nullptr, 0,
                  NI_NUMERICHOST) != 0) {
    return absl::InternalError("getnameinfo failed");
  }
  return std::string(host);
}

std::unique_ptr<RespConn> RespConn::Adopt(int fd, std::string peer, absl::Duration timeout) {
  timeval tv{.tv_sec = static_cast<time_t>(absl::ToInt64Seconds(timeout)), .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return std::unique_ptr<RespConn>(new RespConn(fd, std::move(peer), timeout));
}

absl::Status RespConn::WriteRaw(const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(absl::StrCat("redis ", address_, ": write: ", strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status RespConn::Send(const std::vector<std::string>& args) {
  return WriteRaw(EncodeCommand(args));
}

absl::Status RespConn::WaitReadable() {
  // Within a reply, no later than its own deadline either: a wait begun just before it would
  // otherwise add a whole timeout to max_reply_time.
  const absl::Time deadline = std::min(absl::Now() + timeout_, reply_deadline_);
  for (;;) {
    if (cancelled_ && cancelled_->load()) {
      return absl::CancelledError(
          absl::StrCat("cancelled while waiting for redis ", address_, " to answer"));
    }
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    int rc = poll(&p, 1, 200);
    if (rc > 0) return absl::OkStatus();
    if (rc < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("redis ", address_, ": poll: ", strerror(errno)));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("redis ", address_, ": read timed out"));
    }
  }
}

bool RespConn::PeerGone() {
  // At most 256 KiB dropped per call: a peer sending without end is asked again next time.
  for (int reads = 0; reads < 64; ++reads) {
    char drop[4096];
    ssize_t n = recv(fd_, drop, sizeof(drop), MSG_DONTWAIT);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
  return false;
}

absl::Status RespConn::Fill() {
  // Consumed bytes go before more come: a server whose every packet ends mid-line (so the buffer
  // is never consumed whole) grew it without bound. The tail moved is one reply's unread part.
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ >= (64u << 10))) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  if (absl::Now() > reply_deadline_) {
    return absl::DeadlineExceededError(
        absl::StrCat("redis ", address_, ": a reply took longer than ",
                     absl::FormatDuration(limits_.max_reply_time), " to arrive"));
  }
  char tmp[65536];
  RETURN_IF_ERROR(WaitReadable());
  for (;;) {
    ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return absl::OkStatus();
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      return absl::UnavailableError(absl::StrCat("redis ", address_, ": connection closed"));
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return absl::DeadlineExceededError(absl::StrCat("redis ", address_, ": read timed out"));
    }
    return absl::UnavailableError(absl::StrCat("redis ", address_, ": read: ", strerror(errno)));
  }
}

absl::StatusOr<std::string> RespConn::ReadLine() {
  for (;;) {
    size_t eol = buf_.find("\r\n", pos_);
    if (eol != std::string::npos) {
      std::string line = buf_.substr(pos_, eol - pos_);
      pos_ = eol + 2;
      return line;
    }
    if (buf_.size() - pos_ > limits_.max_line) {
      return TooBig("line bytes", static_cast<int64_t>(buf_.size() - pos_),
                    static_cast<int64_t>(limits_.max_line));
    }
    RETURN_IF_ERROR(Fill());
  }
}

absl::StatusOr<size_t> RespConn::ReadRaw(char* out, size_t n) {
  if (pos_ == buf_.size()) {
    // Large reads go straight from the socket, skipping the buffer copy.
    buf_.clear();
    pos_ = 0;
    RETURN_IF_ERROR(WaitReadable());
    for (;;) {
      ssize_t got = recv(fd_, out, n, 0);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return absl::DeadlineExceededError(absl::StrCat("redis ", address_, ": read timed out"));
      }
      return absl::UnavailableError(absl::StrCat("redis ", address_, ": read: ", strerror(errno)));
    }
  }
  size_t k = std::min(n, buf_.size() - pos_);
  memcpy(out, buf_.data() + pos_, k);
  pos_ += k;
  return k;
}

absl::Status RespConn::TooBig(absl::string_view what, int64_t got, int64_t limit) const {
  return absl::DataLossError(absl::StrCat("redis ", address_, ": reply refused: ", what, " ", got,
                                          " (at most ", limit,
                                          "; no Redis sends that for the service's commands: a "
                                          "broken server, or something else at this address?)"));
}

absl::StatusOr<RespValue> RespConn::ReadReply() {
  reply_deadline_ = absl::Now() + limits_.max_reply_time;
  reply_bytes_ = 0;
  int64_t elements = 0;
  absl::StatusOr<RespValue> v = ReadValue(0, &elements);
  reply_deadline_ = absl::InfiniteFuture();
  return v;
}

absl::StatusOr<RespValue> RespConn::ReadValue(int depth, int64_t* elements) {
  ASSIGN_OR_RETURN(std::string line, ReadLine());
  if (line.empty()) return absl::DataLossError(absl::StrCat("redis ", address_, ": empty reply"));
  // Every line counts toward the reply's bytes, not only bulks: a million 64 KiB status lines
  // in one array were 64 GiB within the limits.
  if (static_cast<int64_t>(line.size()) > limits_.max_reply_bytes - reply_bytes_) {
    return TooBig("reply bytes", reply_bytes_ + static_cast<int64_t>(line.size()),
                  limits_.max_reply_bytes);
  }
  reply_bytes_ += static_cast<int64_t>(line.size());
  RespValue v;
  std::string rest = line.substr(1);
  int64_t n = 0;
  switch (line[0]) {
    case '+':
      v.type = RespValue::Type::kSimple, v.str = rest;
      return v;
    case '-':
      v.type = RespValue::Type::kError, v.str = rest;
      return v;
    case ':':
      v.type = RespValue::Type::kInteger;
      if (!absl::SimpleAtoi(rest, &v.integer)) break;
      return v;
    case '$': {
      if (!absl::SimpleAtoi(rest, &n)) break;
      if (n < 0) return v;  // nil
      // Checked before waiting for the bytes: a declared length never allocates by itself.
      if (n > limits_.max_bulk) return TooBig("bulk string bytes", n, limits_.max_bulk);
      if (n > limits_.max_reply_bytes - reply_bytes_) {
        return TooBig("reply bytes", reply_bytes_ + n, limits_.max_reply_bytes);
      }
      reply_bytes_ += n;
      v.type = RespValue::Type::kBulk;
      while (buf_.size() - pos_ < static_cast<size_t>(n) + 2) RETURN_IF_ERROR(Fill());
      if (buf_.compare(pos_ + n, 2, "\r\n") != 0) break;
      v.str = buf_.substr(pos_, n);
      pos_ += n + 2;
      return v;
    }
    case '*': {
      if (!absl::SimpleAtoi(rest, &n)) break;
      if (n < 0) return v;
      if (depth + 1 > limits_.max_depth)
        return TooBig("nesting depth", depth + 1, limits_.max_depth);
      if (n > limits_.max_elements - *elements) {  // no signed overflow for a huge `n`
        return TooBig("array elements", n, limits_.max_elements - *elements);
      }
      *elements += n;
      v.type = RespValue::Type::kArray;
      v.array.reserve(static_cast<size_t>(std::min<int64_t>(n, 1024)));
      for (int64_t i = 0; i < n; ++i) {
        ASSIGN_OR_RETURN(RespValue item, ReadValue(depth + 1, elements));
        v.array.push_back(std::move(item));
      }
      return v;
    }
  }
  if (line.size() > 200) line = absl::StrCat(line.substr(0, 200), "...");
  return absl::DataLossError(absl::StrCat("redis ", address_, ": malformed reply '", line, "'"));
}

absl::StatusOr<RespValue> RespConn::Command(const std::vector<std::string>& args) {
  RETURN_IF_ERROR(Send(args));
  ASSIGN_OR_RETURN(RespValue v, ReadReply());
  if (v.type == RespValue::Type::kError) {
    return absl::FailedPreconditionError(
        absl::StrCat("redis ", address_, ": ", args.empty() ? "" : args[0], ": ", v.str));
  }
  return v;
}

}  // namespace mdb::engine::redis
