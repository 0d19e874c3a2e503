// Restore of one shard without file access to the server: we act as a master for one full
// resync. The target (a fresh, empty server) is told REPLICAOF us; we answer its PSYNC with
// FULLRESYNC and stream the shard's RDB from the repository; once it has loaded it and reports
// the link up, we send REPLICAOF NO ONE and it is a standalone master holding the data. Its own
// replicas then resync from it as usual.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/per_shard.h"
#include "engine/redis/redis_acl.h"
#include "engine/redis/redis_conn.h"
#include "engine/redis/redis_engine.h"
#include "engine/redis/snapshot_server.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::redis {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(60);
constexpr absl::Duration kLoadTimeout = absl::Minutes(30);
// How long a connection to the snapshot listener has to authenticate.
constexpr absl::Duration kAuthWithin = absl::Seconds(10);

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

// The target's `masterauth` as it was: CONFIG GET must answer exactly [masterauth, value], or
// it could not be put back (a proxy hiding it would have it cleared by the restore).
absl::StatusOr<std::string> MasterAuth(RespConn* conn) {
  ASSIGN_OR_RETURN(RespValue got, conn->Command({"CONFIG", "GET", "masterauth"}));
  if (got.type != RespValue::Type::kArray || got.array.size() != 2 ||
      absl::AsciiStrToLower(got.array[0].str) != "masterauth") {
    return absl::FailedPreconditionError(
        "CONFIG GET masterauth did not answer its value, so it could not be put back after "
        "the restore");
  }
  return got.array[1].str;
}

// Undoes what a restore changed on its target: REPLICAOF NO ONE (retried while the target is
// still LOADING the snapshot, which refuses it), then `masterauth` put back. On `conn` when the
// restore went well; on a new connection after a failure, which may have left `conn` out of
// step (a reply unread) or cancelled. Not cancellable, and bounded (a minute to connect and
// for each reply; ten minutes of LOADING): a target left a replica of a closed port, or with
// the token as its masterauth, is worse than a cancel that takes a while. A failure is logged
// as well as returned.
absl::Status Undo(RespConn* conn, bool conn_in_step, const common::HostConfig& host,
                  const std::string& old_auth, const std::string& where) {
  std::unique_ptr<RespConn> fresh;
  if (!conn_in_step) {
    auto connected = ConnectHost(host, kTimeout);
    if (!connected.ok()) {
      common::Log(common::LogLevel::kError, "redis",
                  absl::StrCat(where, ": cannot reach it to undo the restore's changes (",
                               connected.status().message(), "); if it is still a replica, send ",
                               "it REPLICAOF NO ONE, and set its masterauth back by hand"));
      return connected.status();
    }
    fresh = std::move(*connected);
    conn = fresh.get();
  }
  absl::Status detach;
  for (const absl::Time until = absl::Now() + absl::Minutes(10);;) {
    detach = conn->Command({"REPLICAOF", "NO", "ONE"}).status();
    if (!absl::StartsWith(detach.message(), "LOADING") || absl::Now() > until) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  absl::Status auth = conn->Command({"CONFIG", "SET", "masterauth", old_auth}).status();
  if (!detach.ok() || !auth.ok()) {
    common::Log(common::LogLevel::kError, "redis",
                absl::StrCat(where, ": undoing the restore's changes failed (REPLICAOF NO ONE: ",
                             detach.ToString(), "; masterauth put back: ", auth.ToString(),
                             "); finish by hand"));
  }
  return !detach.ok() ? detach : auth;
}

std::string PeerName(const sockaddr_storage& peer, socklen_t len) {
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&peer), len, host, sizeof(host), serv,
                  sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "an unknown peer";
  }
  return absl::StrCat(host, ":", serv);
}

// Accepts connections on `listener` until one, authenticated with `token`, has been sent the
// snapshot: that one is returned (kept open until the target reports its link up: closing it
// makes the target drop the master it just loaded from). Others are refused and logged.
absl::StatusOr<std::unique_ptr<RespConn>> SendSnapshot(
    int listener, const std::string& token, uint64_t size, const RestoreRequest& req,
    const mdb_backup::v1::RedisShardBackup& shard, const std::string& where) {
  const absl::Time connect_by = absl::Now() + kTimeout;
  int refused = 0;
  std::string last_refusal;
  for (;;) {
    pollfd pfd{.fd = listener, .events = POLLIN, .revents = 0};
    int ready = 0;
    do {  // at least once: a target queued while a refused peer held the loop is still taken
      if (req.cancelled && req.cancelled->load()) {
        return absl::CancelledError(absl::StrCat("restore cancelled while waiting for ", where));
      }
      ready = poll(&pfd, 1, 200);
    } while (ready != 1 && absl::Now() < connect_by);
    // A hard end too: peers connecting again and again must not keep a restore waiting.
    if (ready != 1 || absl::Now() > connect_by + kAuthWithin) {
      return absl::DeadlineExceededError(absl::StrCat(
          where, " did not connect back for the snapshot",
          refused == 0 ? std::string()
                       : absl::StrCat(" (", refused,
                                      " connection(s) refused, the last: ", last_refusal, ")")));
    }
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    int fd = accept4(listener, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
    if (fd < 0) {
      // A connection reset before it was taken (ECONNABORTED, EPROTO...): a peer's doing, not
      // the restore's failure. Waited on as for a refused one.
      ++refused;
      last_refusal = absl::StrCat("accept: ", strerror(errno));
      continue;
    }
    auto replica = RespConn::Adopt(fd, PeerName(peer, peer_len), kTimeout);
    replica->set_cancel(req.cancelled);
    std::string refusal;
    // A peer gets at most 10 s to authenticate, and never past the connect deadline by much.
    const absl::Duration auth_within =
        std::clamp(connect_by - absl::Now(), absl::Seconds(1), kAuthWithin);
    RETURN_IF_ERROR(ServeSnapshot(
        replica.get(), token, size,
        [&](io::ByteSink* sink) {
          return req.repository->RestoreStream(*req.manifest, shard.stream(), sink);
        },
        auth_within, &refusal, req.bytes_done));
    if (refusal.empty()) return replica;
    ++refused;
    last_refusal = refusal;
    common::Log(common::LogLevel::kWarning, "redis",
                absl::StrCat("restore: ", refusal, "; closed, still waiting for ", where));
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
  const std::string where = absl::StrCat("target shard '", target.name, "' (", host->address, ")");
  ASSIGN_OR_RETURN(RespValue keys, conn->Command({"DBSIZE"}));
  if (keys.integer != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, " holds ", keys.integer, " keys; restore only into empty servers"));
  }
  // The snapshot goes only to a connection that authenticates with a token of this restore's
  // (snapshot_server.h), set as the target's masterauth and put back afterwards. Read first, so
  // that a target that will not have it set refuses before anything is written.
  const auto config_refused = [&](const absl::Status& why) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, " refused to have its masterauth set (", why.message(),
        "): a restore sends the snapshot only to a target that authenticates with a password "
        "of its own; allow CONFIG GET and CONFIG SET to the restore's user"));
  };
  absl::StatusOr<std::string> old_auth = MasterAuth(conn.get());
  if (absl::IsCancelled(old_auth.status())) return old_auth.status();
  if (!old_auth.ok()) return config_refused(old_auth.status());
  // ACL users are per server and not in the RDB: made on each of the shard's servers first, so
  // that a refusal leaves the target empty and the restore can be run again. Before the token
  // is set: their save may CONFIG REWRITE, which must not write the token to redis.conf.
  RETURN_IF_ERROR(RestoreAclUsers({shard.acl_users().begin(), shard.acl_users().end()},
                                  target.hosts, req.cancelled));
  const std::string token = NewReplicaToken();
  if (absl::Status set = conn->Command({"CONFIG", "SET", "masterauth", token}).status();
      !set.ok()) {
    if (absl::IsFailedPrecondition(set)) return config_refused(set);  // refused: not set
    (void)Undo(conn.get(), false, *host, *old_auth, where);  // lost or cancelled: it may be set
    return set;
  }
  absl::StatusOr<std::string> ip = conn->LocalIp();
  int port = 0;
  absl::StatusOr<int> listener = ip.ok() ? Listen(*ip, &port) : absl::StatusOr<int>(ip.status());
  if (!listener.ok()) {
    (void)Undo(conn.get(), false, *host, *old_auth, where);
    return listener.status();
  }
  absl::Status st = [&]() -> absl::Status {
    RETURN_IF_ERROR(conn->Command({"REPLICAOF", *ip, std::to_string(port)}).status());
    ASSIGN_OR_RETURN(std::unique_ptr<RespConn> replica,
                     SendSnapshot(*listener, token, size, req, shard, where));
    // Wait until the target has loaded the snapshot and reports the link up.
    absl::Time deadline = absl::Now() + kLoadTimeout;
    for (;;) {
      auto role = GetRole(conn.get());
      if (absl::IsCancelled(role.status())) return role.status();
      if (role.ok() && role->link_up) break;
      // A target that could not take the snapshot (no room for its temporary file, a snapshot
      // it cannot load) closes the link and asks again, of a listener nobody accepts on now.
      if (replica->PeerGone()) {
        return absl::UnavailableError(absl::StrCat(
            where,
            " closed the replication link before it reported the snapshot loaded: its log "
            "says why (no room or no permission for its temporary file, a snapshot it "
            "could not load)"));
      }
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(where, " did not finish loading in time"));
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::OkStatus();
  }();
  close(*listener);
  // Undone whatever happened: the target must not stay a replica of a socket that is gone.
  absl::Status undone = Undo(conn.get(), st.ok(), *host, *old_auth, where);
  if (!st.ok()) return st;
  return common::WithContext(undone, absl::StrCat(where, ": after the restore"));
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
