#include "engine/redis/snapshot_server.h"

#include <openssl/crypto.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "repo/codec.h"

namespace mdb::engine::redis {
namespace {

class SocketSink final : public io::ByteSink {
 public:
  SocketSink(RespConn* conn, std::atomic<int64_t>* counter) : conn_(conn), counter_(counter) {}
  absl::Status Write(std::string_view data) override {
    if (counter_) *counter_ += static_cast<int64_t>(data.size());
    return conn_->WriteRaw(std::string(data));
  }

 private:
  RespConn* conn_;
  std::atomic<int64_t>* counter_;
};

// A replica sends PING, then AUTH: a peer still unauthenticated after this many commands is not
// one.
constexpr int kCommandsBeforeAuth = 4;

bool SameToken(std::string_view given, std::string_view token) {
  return given.size() == token.size() &&
         CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

}  // namespace

std::string NewReplicaToken() {
  std::string raw(24, '\0');
  common::RandomBytes(raw.data(), raw.size());
  return repo::ToHex(raw);
}

absl::Status ServeSnapshot(RespConn* replica, std::string_view token, uint64_t size,
                           const std::function<absl::Status(io::ByteSink*)>& stream,
                           absl::Duration auth_within, std::string* refused,
                           std::atomic<int64_t>* counter) {
  const auto refuse = [&](absl::string_view why) {
    (void)replica->WriteRaw("-NOAUTH Authentication required.\r\n");
    // What the peer chose goes into logs and the operation's error: escaped, and short.
    *refused = absl::StrCat(replica->address(),
                            " is not the restore's target: ", absl::CHexEscape(why.substr(0, 96)));
    return absl::OkStatus();
  };
  // A replica's commands before PSYNC are a few short words: nothing a peer sends before AUTH
  // may make the service hold more than this, and all of it must come within `auth_within`.
  const RespLimits limits = replica->limits();
  const absl::Duration timeout = replica->timeout();
  replica->set_limits({.max_depth = 1,
                       .max_elements = 16,
                       .max_bulk = 1024,
                       .max_reply_bytes = 4096,
                       .max_line = 1024,
                       .max_reply_time = auth_within});
  const absl::Time auth_by = absl::Now() + auth_within;
  refused->clear();
  bool authenticated = false;
  for (int before_auth = 0;; ++before_auth) {
    if (!authenticated) {
      const absl::Duration left = auth_by - absl::Now();
      if (left <= absl::ZeroDuration()) return refuse("no AUTH in time");
      if (before_auth == kCommandsBeforeAuth) return refuse("no AUTH");
      replica->set_timeout(left);  // each wait for its bytes, up to the deadline
    }
    absl::StatusOr<RespValue> cmd = replica->ReadReply();
    if (!cmd.ok()) {
      if (authenticated || absl::IsCancelled(cmd.status())) return cmd.status();
      return refuse(cmd.status().message());  // garbage, a hang-up or silence before AUTH
    }
    if (cmd->type != RespValue::Type::kArray || cmd->array.empty()) {
      if (!authenticated) return refuse("not a command");
      continue;
    }
    const std::string name = absl::AsciiStrToUpper(cmd->array[0].str);
    if (name == "PING") {
      absl::Status pong = replica->WriteRaw("+PONG\r\n");
      if (!pong.ok() && !authenticated) return refuse(pong.message());  // a peer's reset
      RETURN_IF_ERROR(pong);
    } else if (name == "AUTH") {
      if (cmd->array.size() < 2 || !SameToken(cmd->array.back().str, token)) {
        return refuse("wrong password");
      }
      authenticated = true;
      replica->set_limits(limits);
      replica->set_timeout(timeout);
      RETURN_IF_ERROR(replica->WriteRaw("+OK\r\n"));
    } else if (!authenticated) {
      return refuse(absl::StrCat(name, " before AUTH"));
    } else if (name == "PSYNC" || name == "SYNC") {
      std::string replid(20, '\0');
      common::RandomBytes(replid.data(), replid.size());
      RETURN_IF_ERROR(replica->WriteRaw(
          absl::StrCat("+FULLRESYNC ", repo::ToHex(replid), " 0\r\n$", size, "\r\n")));
      SocketSink sink(replica, counter);
      return stream(&sink);
    } else {
      RETURN_IF_ERROR(replica->WriteRaw("+OK\r\n"));  // REPLCONF ...
    }
  }
}

}  // namespace mdb::engine::redis
