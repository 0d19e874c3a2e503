// Restore of a Redis Cluster backup: every shard's RDB is read back from the repository, split
// into keys (rdb_keys.h), and each key is sent as RESTORE ... ABSTTL to the target master that owns
// its slot, pipelined. The target's slot layout may differ from the source's: keys follow slots.
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "engine/redis/cluster_slots.h"
#include "engine/redis/rdb_keys.h"
#include "engine/redis/redis_acl.h"
#include "engine/redis/redis_conn.h"
#include "engine/redis/redis_crc.h"
#include "engine/redis/redis_engine.h"
#include "io/pipe.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::redis {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(60);
constexpr int kPipelineDepth = 512;

struct Target {
  std::unique_ptr<RespConn> conn;
  int pending = 0;  // replies not read yet
};

absl::Status Drain(Target& t, int keep) {
  while (t.pending > keep) {
    ASSIGN_OR_RETURN(RespValue v, t.conn->ReadReply());
    --t.pending;
    if (v.type == RespValue::Type::kError) {
      return absl::FailedPreconditionError(
          absl::StrCat("redis ", t.conn->address(), ": RESTORE: ", v.str));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RestoreIntoCluster(const RestoreRequest& req,
                                const mdb_backup::v1::RedisBackup& meta) {
  // 1. The target's masters and who owns which slot.
  std::vector<Target> targets;
  std::map<std::string, size_t> by_address;
  std::array<int, kClusterSlots> owner;
  owner.fill(-1);
  const common::HostConfig* any_host = nullptr;
  std::unique_ptr<RespConn> probe;
  for (const auto& shard : req.target->shards) {
    for (const auto& h : shard.hosts) {
      auto c = ConnectHost(h, kTimeout, req.cancelled);
      if (absl::IsCancelled(c.status())) return c.status();
      if (c.ok()) {
        probe = std::move(*c);
        any_host = &h;
        break;
      }
    }
    if (probe) break;
  }
  if (!probe) {
    return absl::UnavailableError(
        absl::StrCat("target cluster '", req.target->id, "': no reachable node"));
  }
  ASSIGN_OR_RETURN(RespValue slots, probe->Command({"CLUSTER", "SLOTS"}));
  ASSIGN_OR_RETURN(std::vector<SlotRange> ranges, ParseClusterSlots(slots, probe->address()));
  for (const SlotRange& range : ranges) {
    const std::string& address = range.master;
    auto [it, added] = by_address.emplace(address, targets.size());
    if (added) {
      common::HostConfig host = *any_host;  // same credentials as the declared hosts
      host.address = address;
      ASSIGN_OR_RETURN(auto conn, ConnectHost(host, kTimeout, req.cancelled));
      ASSIGN_OR_RETURN(RespValue keys, conn->Command({"DBSIZE"}));
      if (keys.integer != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("target node ", address, " holds ", keys.integer,
                         " keys; restore only into empty servers"));
      }
      targets.push_back({std::move(conn), 0});
    }
    for (int s = range.first; s <= range.last; ++s) owner[s] = static_cast<int>(it->second);
  }
  for (int s = 0; s < kClusterSlots; ++s) {
    if (owner[s] < 0) {
      return absl::FailedPreconditionError(absl::StrCat("target cluster '", req.target->id,
                                                        "': slot ", s,
                                                        " has no master; fix the cluster first"));
    }
  }
  // 2. ACL users are per node, made first (a refusal leaves the target empty): on every master and
  // every declared host (replicas included).
  // The nodes of one cluster share their users; the first shard's list is the backup's.
  std::vector<common::HostConfig> hosts;
  std::set<std::string> seen;
  for (const auto& shard : req.target->shards) {
    for (const auto& h : shard.hosts) {
      if (seen.insert(h.address).second) hosts.push_back(h);
    }
  }
  for (const auto& [address, index] : by_address) {
    if (!seen.insert(address).second) continue;
    common::HostConfig host = *any_host;
    host.address = address;
    hosts.push_back(std::move(host));
  }
  if (meta.shards_size() > 0) {
    const auto& users = meta.shards(0).acl_users();
    RETURN_IF_ERROR(RestoreAclUsers({users.begin(), users.end()}, hosts, req.cancelled));
  }
  // 3. Function libraries are per node: every master gets each shard's, before any key (the
  // shards of one cluster normally hold the same; one library in two versions is refused by
  // FUNCTION RESTORE, naming it).
  std::set<std::string> payloads;
  for (const auto& shard : meta.shards()) {
    if (!shard.functions().empty()) payloads.insert(shard.functions());
  }
  for (const auto& payload : payloads) {
    for (auto& t : targets) {
      RETURN_IF_ERROR(common::WithContext(
          t.conn->Command({"FUNCTION", "RESTORE", payload}).status(),
          absl::StrCat("restoring the function libraries on ", t.conn->address())));
    }
  }
  // 4. Every shard's keys, in backup order, to the owner of their slot.
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  for (const auto& shard : meta.shards()) {
    io::Pipe pipe;
    absl::Status read_status;
    std::thread reader([&] {
      read_status = req.repository->RestoreStream(*req.manifest, shard.stream(), &pipe);
      pipe.Finish();
    });
    absl::Status st = ForEachRdbKey(
        &pipe,
        [&](const RdbKey& k) -> absl::Status {
          if (req.cancelled && req.cancelled->load())
            return absl::CancelledError("restore cancelled");
          if (req.bytes_done) *req.bytes_done += static_cast<int64_t>(k.payload.size());
          if (k.expire_at_ms >= 0 && k.expire_at_ms <= now_ms) return absl::OkStatus();  // expired
          Target& t = targets[owner[KeySlot(k.key)]];
          std::vector<std::string> cmd{
              "RESTORE", k.key, std::to_string(k.expire_at_ms < 0 ? 0 : k.expire_at_ms), k.payload};
          if (k.expire_at_ms >= 0) cmd.push_back("ABSTTL");
          RETURN_IF_ERROR(t.conn->Send(cmd));
          ++t.pending;
          return Drain(t, kPipelineDepth);
        },
        /*functions_apart=*/!payloads.empty() && shard.functions_missing().empty());
    if (!st.ok()) pipe.Abandon();
    reader.join();
    RETURN_IF_ERROR(io::PipeResult(read_status, st));
    for (auto& t : targets) RETURN_IF_ERROR(Drain(t, 0));
  }
  return absl::OkStatus();
}

}  // namespace mdb::engine::redis
