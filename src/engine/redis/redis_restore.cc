// Restore of one shard without file access to the server: we act as a master for one full
// resync. The target (a fresh, empty server) is told REPLICAOF us; we answer its PSYNC with
// FULLRESYNC and stream the shard's RDB from the repository; once it has loaded it and reports
// the link up, we send REPLICAOF NO ONE and it is a standalone master holding the data. Its own
// replicas then resync from it as usual.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "engine/per_shard.h"
#include "engine/redis/redis_acl.h"
#include "engine/redis/redis_conn.h"
#include "engine/redis/redis_engine.h"
#include "mdb_backup/v1/engines.pb.h"
#include "repo/codec.h"

namespace mdb::engine::redis {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(60);
constexpr absl::Duration kLoadTimeout = absl::Minutes(30);

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

absl::StatusOr<int> Listen(const std::string& ip, int* port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  addrinfo* res = nullptr;
  if (getaddrinfo(ip.c_str(), "0", &hints, &res) != 0 || !res) {
    return absl::InternalError(absl::StrCat("cannot listen on ", ip));
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = fd >= 0 && bind(fd, res->ai_addr, res->ai_addrlen) == 0 && listen(fd, 1) == 0;
  freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (!ok || getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    if (fd >= 0) close(fd);
    return absl::InternalError(absl::StrCat("cannot listen on ", ip, ": ", strerror(errno)));
  }
  char serv[NI_MAXSERV];
  getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, nullptr, 0, serv, sizeof(serv),
              NI_NUMERICSERV);
  *port = atoi(serv);
  return fd;
}

// Answers the replica's handshake until its PSYNC/SYNC, then streams the RDB.
absl::Status ServeSnapshot(RespConn* replica, const RestoreRequest& req,
                           const mdb_backup::v1::RedisShardBackup& shard, uint64_t size) {
  for (;;) {
    ASSIGN_OR_RETURN(RespValue cmd, replica->ReadReply());
    if (cmd.type != RespValue::Type::kArray || cmd.array.empty()) continue;
    std::string name = cmd.array[0].str;
    for (auto& c : name) c = static_cast<char>(toupper(c));
    if (name == "PING") {
      RETURN_IF_ERROR(replica->WriteRaw("+PONG\r\n"));
    } else if (name == "PSYNC" || name == "SYNC") {
      std::string replid(20, '\0');
      common::RandomBytes(replid.data(), replid.size());
      RETURN_IF_ERROR(replica->WriteRaw(
          absl::StrCat("+FULLRESYNC ", repo::ToHex(replid), " 0\r\n$", size, "\r\n")));
      SocketSink sink(replica, req.bytes_done);
      return req.repository->RestoreStream(*req.manifest, shard.stream(), &sink);
    } else {
      RETURN_IF_ERROR(replica->WriteRaw("+OK\r\n"));  // AUTH, REPLCONF ...
    }
  }
}

absl::Status RestoreShard(const RestoreRequest& req, const mdb_backup::v1::RedisShardBackup& shard,
                          const common::ShardConfig& target) {
  uint64_t size = 0;
  for (const auto& s : req.manifest->streams()) {
    if (s.name() == shard.stream()) size = s.size();
  }
  // The target's master, which must be empty: a restore never overwrites data.
  std::unique_ptr<RespConn> conn;
  const common::HostConfig* host = nullptr;
  for (const auto& h : target.hosts) {
    auto c = ConnectHost(h, kTimeout, req.cancelled);
    if (absl::IsCancelled(c.status())) return c.status();
    if (!c.ok()) continue;
    auto role = GetRole(c->get());
    if (absl::IsCancelled(role.status())) return role.status();
    if (role.ok() && role->master) {
      conn = std::move(*c);
      host = &h;
      break;
    }
  }
  if (!conn) {
    return absl::UnavailableError(
        absl::StrCat("target shard '", target.name, "': no reachable master"));
  }
  ASSIGN_OR_RETURN(RespValue keys, conn->Command({"DBSIZE"}));
  if (keys.integer != 0) {
    return absl::FailedPreconditionError(absl::StrCat("target shard '", target.name, "' (",
                                                      host->address, ") holds ", keys.integer,
                                                      " keys; restore only into empty servers"));
  }
  // ACL users are per server and not in the RDB: made on each of the shard's servers first, so
  // that a refusal leaves the target empty and the restore can be run again.
  RETURN_IF_ERROR(RestoreAclUsers({shard.acl_users().begin(), shard.acl_users().end()},
                                  target.hosts, req.cancelled));
  ASSIGN_OR_RETURN(std::string ip, conn->LocalIp());
  int port = 0;
  ASSIGN_OR_RETURN(int listener, Listen(ip, &port));
  absl::Status st = [&]() -> absl::Status {
    RETURN_IF_ERROR(conn->Command({"REPLICAOF", ip, std::to_string(port)}).status());
    pollfd pfd{.fd = listener, .events = POLLIN, .revents = 0};
    int ready = 0;
    for (absl::Time deadline = absl::Now() + kTimeout; ready != 1 && absl::Now() < deadline;) {
      if (req.cancelled && req.cancelled->load()) {
        return absl::CancelledError(absl::StrCat("restore cancelled while waiting for ",
                                                 host->address, " to connect back"));
      }
      ready = poll(&pfd, 1, 200);
    }
    if (ready != 1) {
      return absl::DeadlineExceededError(absl::StrCat("target shard '", target.name, "' (",
                                                      host->address, ") did not connect back to ",
                                                      ip, ":", port, " for the snapshot"));
    }
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return absl::UnavailableError("accept failed");
    auto replica = RespConn::Adopt(fd, host->address);
    replica->set_cancel(req.cancelled);
    RETURN_IF_ERROR(ServeSnapshot(replica.get(), req, shard, size));
    // Wait until the target has loaded the snapshot and reports the link up.
    absl::Time deadline = absl::Now() + kLoadTimeout;
    for (;;) {
      auto role = GetRole(conn.get());
      if (absl::IsCancelled(role.status())) return role.status();
      if (role.ok() && role->link_up) break;
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("target shard '", target.name, "' did not finish loading in time"));
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::OkStatus();
  }();
  close(listener);
  // Detach whatever happened: the target must not stay a replica of a socket that is gone.
  absl::Status detach = conn->Command({"REPLICAOF", "NO", "ONE"}).status();
  if (!st.ok()) return st;
  return detach;
}

}  // namespace

absl::Status RedisDriver::Restore(const RestoreRequest& req) {
  mdb_backup::v1::RedisBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's redis metadata is damaged");
  }
  // Cluster nodes refuse REPLICAOF: a cluster backup, or a cluster target, is restored key by key.
  if (meta.cluster_mode()) return RestoreIntoCluster(req, meta);
  return RestoreEachShard(*req.target, meta.shards_size(), [&](size_t i) {
    return RestoreShard(req, meta.shards(i), req.target->shards[i]);
  });
}

}  // namespace mdb::engine::redis
