// A minimal Redis protocol (RESP2) connection. Written here rather than taken from hiredis because
// a backup must stream the replication payload (gigabytes) straight from the socket, which
// hiredis would buffer whole; commands and the stream share one buffered socket.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mdb::engine::redis {

struct RespValue {
  enum class Type { kSimple, kError, kInteger, kBulk, kNil, kArray };
  Type type = Type::kNil;
  std::string str;  // simple string, error or bulk
  int64_t integer = 0;
  std::vector<RespValue> array;
};

// What a reply may hold. Real servers stay far below these for every command the service sends
// (INFO, ROLE, CLUSTER NODES, CONFIG GET, replies to RESTORE); a reply past them is a broken or
// hostile server, and the operation fails with an error naming it instead of the process running
// out of stack or memory.
struct RespLimits {
  int max_depth = 8;                    // nested arrays (CLUSTER SLOTS nests 3)
  int64_t max_elements = 1 << 20;       // array elements in one reply, at every depth together
  int64_t max_bulk = 64 << 20;          // bytes of one bulk string
  int64_t max_reply_bytes = 256 << 20;  // bytes of one reply's lines and bulks, all together
  size_t max_line = 64 << 10;           // bytes of one line (status, error, length header)
  absl::Duration max_reply_time = absl::Minutes(2);  // a reply trickled in byte by byte
};

class RespConn {
 public:
  // Connects to "host:port"; `timeout` bounds the connect and every later read or write.
  static absl::StatusOr<std::unique_ptr<RespConn>> Connect(const std::string& address,
                                                           absl::Duration timeout);
  ~RespConn();

  // Sends a command and reads its reply. A Redis error reply becomes FailedPrecondition with the
  // server's message.
  absl::StatusOr<RespValue> Command(const std::vector<std::string>& args);
  absl::Status Send(const std::vector<std::string>& args);
  // One reply within `limits()`. Nesting is parsed with bounded recursion (max_depth).
  absl::StatusOr<RespValue> ReadReply();
  // One line without its CRLF (at most limits().max_line bytes).
  absl::StatusOr<std::string> ReadLine();
  // Up to `n` raw bytes (buffered ones first); 0 only at end of stream.
  absl::StatusOr<size_t> ReadRaw(char* buf, size_t n);
  absl::Status WriteRaw(const std::string& data);
  // Whether the peer has closed or reset the connection, without waiting. What it sent meanwhile
  // is read and dropped: for a replica's link, whose REPLCONF ACKs nobody reads.
  bool PeerGone();

  const std::string& address() const { return address_; }
  const RespLimits& limits() const { return limits_; }
  // Every wait for the server checks `cancelled` (about 5 times a second), so that cancelling an
  // operation ends it even while the server holds a reply back.
  void set_cancel(const std::atomic<bool>* cancelled) { cancelled_ = cancelled; }
  void set_limits(const RespLimits& limits) { limits_ = limits; }
  // What bounds each wait for the peer from now on.
  void set_timeout(absl::Duration timeout) { timeout_ = timeout; }
  absl::Duration timeout() const { return timeout_; }
  // Bytes received and not yet consumed, plus what was consumed since the last compaction: what
  // the connection holds (tests check it stays bounded).
  size_t buffered() const { return buf_.size(); }
  // The local IP address of this connection, as the server sees us.
  absl::StatusOr<std::string> LocalIp() const;
  // Wraps an accepted socket (restore serves replicas); its writes time out as Connect's do.
  static std::unique_ptr<RespConn> Adopt(int fd, std::string peer,
                                         absl::Duration timeout = absl::Seconds(60));

 private:
  RespConn(int fd, std::string address, absl::Duration timeout)
      : fd_(fd), address_(std::move(address)), timeout_(timeout) {}
  absl::Status Fill();  // reads more bytes into the buffer
  // Until the socket has bytes: Cancelled, or DeadlineExceeded after `timeout_`.
  absl::Status WaitReadable();
  absl::StatusOr<RespValue> ReadValue(int depth, int64_t* elements);
  absl::Status TooBig(absl::string_view what, int64_t got, int64_t limit) const;

  int fd_;
  std::string address_;
  absl::Duration timeout_;
  const std::atomic<bool>* cancelled_ = nullptr;
  RespLimits limits_;
  absl::Time reply_deadline_ = absl::InfiniteFuture();
  int64_t reply_bytes_ = 0;  // line and bulk bytes of the reply being read
  std::string buf_;
  size_t pos_ = 0;
};

// Encodes a command as a RESP array of bulk strings.
std::string EncodeCommand(const std::vector<std::string>& args);

}  // namespace mdb::engine::redis
