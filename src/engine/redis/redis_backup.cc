// Backup of one shard: pick the source (a replica whose link is up, else the master), check the
// cluster's slot map is stable, then PSYNC and stream the snapshot. The server answers PSYNC with
// "+FULLRESYNC <replid> <offset>" and then the RDB, either as "$<length>" + bytes or, for
// diskless sync, "$EOF:<40-byte mark>" + bytes + the mark; it may send bare "\n" keep-alives
// before either while it prepares the snapshot.
#include <algorithm>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/host_options.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/per_shard.h"
#include "engine/redis/rdb_keys.h"
#include "engine/redis/redis_acl.h"
#include "engine/redis/redis_conn.h"
#include "engine/redis/redis_engine.h"
#include "io/pipe.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::redis {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(60);

// The RDB payload of a replication stream as a ByteSource; ends exactly where the RDB ends.
class RdbSource final : public io::ByteSource {
 public:
  RdbSource(RespConn* conn, const std::atomic<bool>* cancelled)
      : conn_(conn), cancelled_(cancelled) {}

  absl::Status Start(const std::string& header) {
    if (absl::StartsWith(header, "$EOF:")) {
      mark_ = header.substr(5);
      if (mark_.size() != 40) return absl::DataLossError("bad EOF mark in the sync header");
      return absl::OkStatus();
    }
    int64_t len;
    if (header.empty() || header[0] != '$' || !absl::SimpleAtoi(header.substr(1), &len) ||
        len < 0) {
      return absl::DataLossError(
          absl::StrCat("unexpected sync header '", header.substr(0, 100), "'"));
    }
    remaining_ = static_cast<uint64_t>(len);
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (cancelled_ && cancelled_->load()) return absl::CancelledError("backup cancelled");
    if (mark_.empty()) {  // length-prefixed
      if (remaining_ == 0) return 0;
      ASSIGN_OR_RETURN(size_t got, conn_->ReadRaw(buf, std::min<uint64_t>(n, remaining_)));
      if (got == 0) return absl::UnavailableError("the server closed the stream mid-snapshot");
      remaining_ -= got;
      total_ += got;
      return got;
    }
    // EOF-marked: hold back the last 40 bytes until we know they are not the mark.
    if (done_) return 0;
    while (tail_.size() < 40 + 1) {
      char tmp[65536];
      ASSIGN_OR_RETURN(size_t got, conn_->ReadRaw(tmp, sizeof(tmp)));
      if (got == 0) return absl::UnavailableError("the server closed the stream mid-snapshot");
      tail_.append(tmp, got);
      if (tail_.size() >= 40 && tail_.compare(tail_.size() - 40, 40, mark_) == 0) {
        done_ = true;
        break;
      }
    }
    constexpr size_t keep = 40;  // the mark, or bytes that may still turn out to be it
    size_t avail = tail_.size() - keep;
    size_t k = std::min(n, avail);
    memcpy(buf, tail_.data(), k);
    tail_.erase(0, k);
    total_ += k;
    if (done_ && tail_.size() == 40) tail_.clear();
    return k;
  }

  uint64_t total() const { return total_; }

 private:
  RespConn* conn_;
  const std::atomic<bool>* cancelled_;
  uint64_t remaining_ = 0;
  std::string mark_;
  std::string tail_;
  bool done_ = false;
  uint64_t total_ = 0;
};

// Hands what it reads to `pipe` as well, for the facts counter on its own thread; once the
// counter stops (it read the RDB to its end, or gave up), writes fail and it is left alone.
class TeeSource final : public io::ByteSource {
 public:
  TeeSource(io::ByteSource* source, io::Pipe* pipe) : source_(source), pipe_(pipe) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    ASSIGN_OR_RETURN(size_t got, source_->Read(buf, n));
    if (got > 0 && !stopped_) stopped_ = !pipe_->Write(std::string_view(buf, got)).ok();
    return got;
  }

 private:
  io::ByteSource* source_;
  io::Pipe* pipe_;
  bool stopped_ = false;
};

absl::StatusOr<mdb_backup::v1::RedisShardBackup> BackupShard(const common::ShardConfig& shard,
                                                             const BackupRequest& req) {
  mdb_backup::v1::RedisShardBackup out;
  out.set_name(shard.name);
  // 1. The source: a healthy replica spares the master the snapshot's memory and CPU, if it is
  // not further behind the master than the replica's `max_lag_bytes` (default 1 MiB): a replica
  // that lags gives an older snapshot than the user asked for.
  struct Seen {
    const common::HostConfig* host;
    Role role;
  };
  std::vector<Seen> seen;
  std::string errors;
  for (const auto& host : shard.hosts) {
    auto conn = ConnectHost(host, kTimeout, req.cancelled);
    if (absl::IsCancelled(conn.status())) return conn.status();
    auto role = conn.ok() ? GetRole(conn->get()) : absl::StatusOr<Role>(conn.status());
    if (absl::IsCancelled(role.status())) return role.status();
    if (!role.ok()) {
      absl::StrAppend(&errors, " ", role.status().message(), ";");
      continue;
    }
    seen.push_back({&host, *role});
  }
  const Role* master = nullptr;
  for (const auto& h : seen) {
    if (h.role.master && (!master || h.role.offset > master->offset)) master = &h.role;
  }
  const common::HostConfig* source = nullptr;
  bool source_is_master = false;
  for (const auto& h : seen) {
    if (h.role.master || !h.role.link_up) continue;
    int64_t bound = 0;
    const std::string text = common::HostOption(*h.host, "max_lag_bytes", "1048576");
    if (!absl::SimpleAtoi(text, &bound) || bound < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard '", shard.name, "' host ", h.host->address, ": max_lag_bytes '", text,
                       "' is not a number of bytes (a whole number, 0 or more)"));
    }
    // The lag as the master saw it in one reply (its offset and the replica's acknowledged
    // one), else the two offsets read one after the other; no declared master to compare with
    // (its link is up, so one answers it): unknown, taken as it is.
    int64_t lag = -1;
    if (master) {
      auto ack = master->replica_acks.find(h.host->address);
      lag = ack != master->replica_acks.end() ? master->offset - ack->second
                                              : master->offset - h.role.offset;
    }
    if (lag > bound) {
      absl::StrAppend(&errors, " replica ", h.host->address, " is ", lag,
                      " bytes behind the master (max_lag_bytes ", bound, ");");
      continue;
    }
    source = h.host;
    out.set_lag_bytes(lag);  // -1: not known
    break;
  }
  for (const auto& h : seen) {
    if (source) break;
    if (h.role.master) {
      source = h.host;
      source_is_master = true;
    }
  }
  if (!source) {
    return absl::UnavailableError(
        absl::StrCat("shard '", shard.name,
                     "': no reachable master or replica:", absl::StripSuffix(errors, ";")));
  }
  if (source_is_master && absl::StrContains(errors, "bytes behind the master")) {
    common::Log(common::LogLevel::kInfo, "redis",
                absl::StrCat("shard '", shard.name, "': from the master:", errors));
  }
  out.set_host(source->address);
  out.set_role(source_is_master ? "master" : "replica");
  ASSIGN_OR_RETURN(auto conn, ConnectHost(*source, kTimeout, req.cancelled));
  // 2. Redis Cluster: record the slot map; refuse while slots move (the snapshot would miss or
  // duplicate keys of the moving slots).
  auto where = [&](const absl::Status& st) {
    return common::WithContext(st, absl::StrCat("shard '", shard.name, "'"));
  };
  auto info = conn->Command({"INFO", "cluster"});
  if (!info.ok()) return where(info.status());
  if (InfoField(info->str, "cluster_enabled") == "1") {
    auto listed = conn->Command({"CLUSTER", "NODES"});
    if (!listed.ok()) return where(listed.status());
    const RespValue& nodes = *listed;
    if (absl::StrContains(nodes.str, "->-") || absl::StrContains(nodes.str, "-<-")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "shard '", shard.name, "': slots are being migrated; retry when resharding has ended"));
    }
    out.set_cluster_nodes(nodes.str);
  }
  // What is not in the RDB (ACL users), and function libraries for a key-by-key restore; read
  // before the snapshot, which no ACL change made during it is part of either.
  if (auto users = ListAclUsers(conn.get()); users.ok()) {
    for (auto& u : *users) out.add_acl_users(std::move(u));
  } else if (absl::IsCancelled(users.status())) {
    return users.status();
  } else {
    out.set_acl_missing(std::string(users.status().message()));
    common::Log(common::LogLevel::kWarning, "redis",
                absl::StrCat("shard '", shard.name, "' (", source->address,
                             "): ACL users not backed up (a restore will not have them): ",
                             users.status().message(), "; allow the service's user +acl|list"));
  }
  if (!out.cluster_nodes().empty()) {
    // Libraries only when FUNCTION LIST has any: nothing to restore apart otherwise.
    auto listed = conn->Command({"FUNCTION", "LIST"});
    if (listed.ok() && !listed->array.empty()) {
      auto dump = conn->Command({"FUNCTION", "DUMP"});
      if (!dump.ok()) return where(dump.status());
      out.set_functions(dump->str);
    } else if (!listed.ok() && !absl::StrContains(listed.status().message(), "unknown command")) {
      // Refused (NOPERM): a restore key by key refuses this shard's libraries, saying so.
      out.set_functions_missing(std::string(listed.status().message()));
      common::Log(common::LogLevel::kWarning, "redis",
                  absl::StrCat("shard '", shard.name, "': function libraries not listed: ",
                               listed.status().message(), "; allow +function|list"));
    }
  }
  // 3. Full resync: the server snapshots and streams the RDB to us as to a new replica.
  RETURN_IF_ERROR(where(conn->Command({"REPLCONF", "capa", "eof", "capa", "psync2"}).status()));
  RETURN_IF_ERROR(where(conn->Send({"PSYNC", "?", "-1"})));
  std::string line;
  do {
    auto read = conn->ReadLine();
    if (!read.ok()) return where(read.status());
    line = std::move(*read);
    while (!line.empty() && line[0] == '\n') line.erase(0, 1);  // keep-alives
  } while (line.empty());
  std::vector<std::string> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || parts[0] != "+FULLRESYNC") {
    return absl::FailedPreconditionError(absl::StrCat("shard '", shard.name, "' (", source->address,
                                                      "): PSYNC answered '", line.substr(0, 100),
                                                      "'"));
  }
  out.set_replid(parts[1]);
  int64_t offset = 0;
  (void)absl::SimpleAtoi(parts[2], &offset);
  out.set_offset(offset);
  do {
    auto read = conn->ReadLine();
    if (!read.ok()) return where(read.status());
    line = std::move(*read);
    while (!line.empty() && line[0] == '\n') line.erase(0, 1);
  } while (line.empty());
  RdbSource rdb(conn.get(), req.cancelled);
  RETURN_IF_ERROR(where(rdb.Start(line)));
  out.set_stream(absl::StrCat("shard/", shard.name, "/dump.rdb"));
  // The facts a drill checks a restore against, counted from the RDB as it passes.
  io::Pipe to_counter(4 << 20);
  absl::StatusOr<std::map<uint64_t, RdbDbFacts>> facts;
  std::thread counter([&] {
    facts = CountRdbKeys(&to_counter);
    to_counter.Abandon();
  });
  TeeSource tee(&rdb, &to_counter);
  absl::Status st = req.writer->AddStream(out.stream(), &tee);
  to_counter.Finish();
  counter.join();
  if (st.ok() && facts.ok()) {
    out.set_facts(true);
    for (const auto& [db, f] : *facts) {
      auto* d = out.add_dbs();
      d->set_db(static_cast<uint32_t>(db));
      d->set_keys(f.keys);
      d->set_expiring(f.expiring);
      d->set_names_hash(f.names_hash);
    }
  }
  if (!st.ok()) {
    return common::WithContext(st,
                               absl::StrCat("shard '", shard.name, "' (", source->address, ")"));
  }
  out.set_rdb_bytes(rdb.total());
  return out;
}

}  // namespace

absl::StatusOr<BackupResult> RedisDriver::Backup(const BackupRequest& req) {
  ASSIGN_OR_RETURN(auto shards, BackupEachShard<mdb_backup::v1::RedisShardBackup>(
                                    *req.cluster, [&](const common::ShardConfig& shard) {
                                      return BackupShard(shard, req);
                                    }));
  mdb_backup::v1::RedisBackup meta;
  BackupResult result;
  for (auto& shard : shards) {
    meta.set_cluster_mode(meta.cluster_mode() || !shard.cluster_nodes().empty());
    result.shard_names.push_back(shard.name());
    *meta.add_shards() = std::move(shard);
  }
  result.metadata = meta.SerializeAsString();
  return result;
}

}  // namespace mdb::engine::redis
