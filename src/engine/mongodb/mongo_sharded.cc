// A sharded cluster declared by its router (mongos), backed up the way PBM and mongodump do it:
// the balancer held still; the documents, views and users read through the router (which serves
// each document from the shard that owns it, so no orphan left by a migration is read); the
// config metadata read through it too; and every shard's oplog window, from before the first
// read to one cluster time T common to all shards, as the journal. Replaying each shard's window
// after the documents brings every shard to T: one point for the whole cluster. A restore goes
// through the target's router: collections made and sharded by their recorded keys, documents
// inserted, the windows replayed.
#include "engine/mongodb/mongo_sharded.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/host_options.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/mongodb/mongo_dump.h"
#include "engine/mongodb/mongo_engine.h"
#include "engine/mongodb/mongo_util.h"
#include "engine/mongodb/oplog_apply.h"
#include "engine/mongodb/sharded.h"
#include "engine/per_shard.h"

namespace mdb::engine::mongodb {
namespace {

using mdb_backup::v1::MongoCollection;
using mdb_backup::v1::MongoShardBackup;

constexpr char kRouted[] = "router";  // stream prefix of what the router served
// The config metadata a restore needs to shard collections again, and what an operator needs to
// see where chunks and zones were.
constexpr const char* kConfigCollections[] = {"databases", "collections", "chunks",
                                              "tags",      "settings",    "version"};

absl::StatusOr<std::unique_ptr<MongoConn>> Router(const common::ClusterConfig& cluster,
                                                  absl::Duration timeout,
                                                  const std::atomic<bool>* cancelled) {
  const common::HostConfig& host = cluster.shards.front().hosts.front();
  ASSIGN_OR_RETURN(auto conn, ConnectHost(host, timeout, cancelled));
  ASSIGN_OR_RETURN(ServerInfo info, Describe(conn.get()));
  if (!info.router) {
    return absl::FailedPreconditionError(absl::StrCat(
        "mongodb ", host.address,
        " is not a mongos (hello says no 'isdbgrid'): discover_shards needs the cluster's "
        "router; declare a replica set's members as a shard instead"));
  }
  return conn;
}

// Until the member's newest oplog entry is at or past `t` (a secondary replicating the note the
// router wrote; a primary at once).
absl::Status AwaitOplog(MongoConn* conn, uint64_t t, const std::string& shard,
                        const std::atomic<bool>* cancelled) {
  const absl::Time deadline = absl::Now() + absl::Minutes(2);
  for (;;) {
    ASSIGN_OR_RETURN(uint64_t newest, OplogEdge(conn, /*newest=*/true));
    if (newest >= t) return absl::OkStatus();
    if (cancelled && cancelled->load()) return absl::CancelledError("backup cancelled");
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "shard '", shard, "' (", conn->address(),
          "): its oplog did not reach the cluster's common time within 2 minutes (a lagging "
          "secondary?)"));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

}  // namespace

absl::StatusOr<BackupResult> BackupSharded(const BackupRequest& req) {
  const common::HostConfig& declared = req.cluster->shards.front().hosts.front();
  ASSIGN_OR_RETURN(auto router, Router(*req.cluster, absl::Minutes(5), req.cancelled));
  ASSIGN_OR_RETURN(Bson listed, router->Command("admin", R"({"listShards": 1})"));
  ASSIGN_OR_RETURN(std::vector<common::ShardConfig> shards,
                   ShardsFromListShards(listed.get(), declared));
  ASSIGN_OR_RETURN(auto balancer,
                   BalancerPause::Start([&](const std::string& db, const std::string& cmd) {
                     return router->Command(db, cmd);
                   }));
  mdb_backup::v1::MongoBackup meta;
  meta.set_balancer(balancer->was_running() ? "paused" : "off");
  // 1. Each shard's oplog start, before anything is read.
  std::vector<Member> members(shards.size());
  std::vector<MongoShardBackup> windows(shards.size());
  RETURN_IF_ERROR(EachShardInParallel(shards.size(), [&](size_t i) -> absl::Status {
    ASSIGN_OR_RETURN(members[i], PickMember(shards[i], req.cancelled));
    MongoConn* conn = members[i].conn.get();
    ASSIGN_OR_RETURN(bool has_oplog, HasOplog(conn));
    if (!has_oplog) {
      return absl::FailedPreconditionError(
          absl::StrCat("shard '", shards[i].name, "' (", conn->address(), ") keeps no oplog"));
    }
    windows[i].set_name(shards[i].name);
    windows[i].set_host(conn->address());
    windows[i].set_role(members[i].info.secondary ? "secondary" : "primary");
    windows[i].set_server_version(members[i].info.version);
    windows[i].set_set_name(members[i].info.set_name);
    windows[i].set_has_oplog(true);
    ASSIGN_OR_RETURN(uint64_t start, OplogEdge(conn, /*newest=*/true));
    windows[i].set_oplog_start(start);
    return absl::OkStatus();
  }));
  // 2. The documents, views and users through the router; the config metadata.
  MongoShardBackup* routed = meta.mutable_routed();
  routed->set_name(kRouted);
  routed->set_host(router->address());
  routed->set_role("mongos");
  routed->set_dump_started_unix_ms(absl::ToUnixMillis(absl::Now()));
  ASSIGN_OR_RETURN(auto dbs, UserDatabases(router.get()));
  for (const auto& db : dbs) RETURN_IF_ERROR(BackupDatabase(router.get(), db, routed, req));
  if (common::HostOption(declared, "users", "true") != "false") {
    RETURN_IF_ERROR(BackupUsers(router.get(), routed, req));
  }
  for (const char* name : kConfigCollections) {
    ASSIGN_OR_RETURN(*meta.add_config(), DumpWhole(router.get(), "config", name, kRouted, req));
  }
  routed->set_dump_ended_unix_ms(absl::ToUnixMillis(absl::Now()));
  // 3. The common time: the latest of the shards' newest entries. A note written through the
  // router on every shard carries each shard's clock past it, so that no entry at or before T
  // can still appear on a shard after its window is read.
  uint64_t cut = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    ASSIGN_OR_RETURN(uint64_t end, OplogEdge(members[i].conn.get(), /*newest=*/true));
    cut = std::max(cut, end);
  }
  RETURN_IF_ERROR(
      router->Command("admin", R"({"appendOplogNote": 1, "data": {"mdb-backup": "cut"}})")
          .status());
  meta.set_cluster_time(cut);
  // 4. Each shard's window up to T; the oplog must still hold its start.
  RETURN_IF_ERROR(EachShardInParallel(shards.size(), [&](size_t i) -> absl::Status {
    MongoConn* conn = members[i].conn.get();
    RETURN_IF_ERROR(AwaitOplog(conn, cut, shards[i].name, req.cancelled));
    windows[i].set_oplog_end(cut);
    RETURN_IF_ERROR(CheckReplayable(conn, windows[i], /*sharded=*/true));
    RETURN_IF_ERROR(BackupOplog(conn, &windows[i], req));
    ASSIGN_OR_RETURN(uint64_t oldest, OplogEdge(conn, /*newest=*/false));
    if (windows[i].oplog_start() != 0 && oldest > windows[i].oplog_start()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "shard '", shards[i].name, "' (", conn->address(),
          "): the oplog rolled over during the backup; enlarge it or back up at a quieter time"));
    }
    windows[i].set_consistency("oplog");
    return absl::OkStatus();
  }));
  if (absl::Status st = balancer->Resume(); !st.ok()) {
    common::Log(common::LogLevel::kError, "mongodb",
                absl::StrCat("cluster '", req.cluster->id,
                             "': the balancer could not be started again: ", st.message(),
                             "; start it with sh.startBalancer()"));
  }
  BackupResult result;
  for (auto& w : windows) {
    result.shard_names.push_back(w.name());
    *meta.add_shards() = std::move(w);
  }
  result.metadata = meta.SerializeAsString();
  return result;
}

absl::StatusOr<ShardKeys> RecordedShardKeys(const RestoreRequest& req,
                                            const mdb_backup::v1::MongoBackup& meta,
                                            std::map<std::string, Bson>* specs) {
  ShardKeys keys;
  for (const auto& c : meta.config()) {
    if (c.name() != "collections") continue;
    RETURN_IF_ERROR(ForEachStoredDocument(req, c.stream(), [&](std::string_view bytes) {
      ASSIGN_OR_RETURN(Bson doc, Bson::FromBytes(bytes));
      bson_iter_t it, key;
      std::string ns = GetString(doc.get(), "_id");
      if (bson_iter_init_find(&it, doc.get(), "dropped") && bson_iter_as_bool(&it)) {
        return absl::OkStatus();
      }
      Bson spec;
      if (ns.empty() || !GetDocument(doc.get(), "key", &spec) ||
          !bson_iter_init(&key, spec.get())) {
        return absl::OkStatus();  // not a sharded collection's entry
      }
      while (bson_iter_next(&key)) keys[ns].push_back(bson_iter_key(&key));
      Bson cmd;
      BSON_APPEND_UTF8(cmd.get(), "shardCollection", ns.c_str());
      BSON_APPEND_DOCUMENT(cmd.get(), "key", spec.get());
      if (bson_iter_init_find(&it, doc.get(), "unique") && bson_iter_as_bool(&it)) {
        BSON_APPEND_BOOL(cmd.get(), "unique", true);
      }
      (*specs)[ns] = std::move(cmd);
      return absl::OkStatus();
    }));
  }
  return keys;
}

absl::Status RestoreSharded(const RestoreRequest& req, const mdb_backup::v1::MongoBackup& meta) {
  if (!DiscoversShards(*req.target)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the backup is of a sharded cluster: declare target cluster '", req.target->id,
                     "' by its mongos, with discover_shards: \"true\""));
  }
  // No socket timeout: an index build on a large collection may take hours.
  ASSIGN_OR_RETURN(auto router, Router(*req.target, absl::ZeroDuration(), req.cancelled));
  ASSIGN_OR_RETURN(auto existing, UserDatabases(router.get()));
  if (!existing.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("target cluster '", req.target->id, "' already holds database '",
                     existing.front(), "'; restore only into an empty cluster"));
  }
  std::map<std::string, Bson> shard_commands;
  ASSIGN_OR_RETURN(ShardKeys keys, RecordedShardKeys(req, meta, &shard_commands));
  const MongoShardBackup& routed = meta.routed();
  for (const auto& c : routed.collections()) {
    if (c.type() != "collection") continue;
    // Sharded by its recorded key before the documents go in, so that they spread as they load.
    RETURN_IF_ERROR(RestoreCollection(req, router.get(), c, [&]() -> absl::Status {
      auto it = shard_commands.find(absl::StrCat(c.db(), ".", c.name()));
      if (it == shard_commands.end()) return absl::OkStatus();
      // Required before MongoDB 6.0, implied after; an error that matters comes back from
      // shardCollection.
      Bson enable;
      BSON_APPEND_UTF8(enable.get(), "enableSharding", c.db().c_str());
      (void)router->Command("admin", enable.get());
      return router->Command("admin", it->second.get()).status();
    }));
  }
  for (const auto& c : routed.collections()) {
    if (c.type() == "view") RETURN_IF_ERROR(CreateCollection(router.get(), c));
  }
  if (common::HostOption(req.target->shards.front().hosts.front(), "users", "true") != "false") {
    RETURN_IF_ERROR(RestoreUsers(req, router.get(), routed));
  }
  // Every shard's window through the router, up to the common time.
  OplogApplier applier(router.get(), &keys);
  for (const auto& shard : meta.shards()) {
    if (shard.oplog_stream().empty()) continue;
    RETURN_IF_ERROR(ForEachStoredDocument(req, shard.oplog_stream(),
                                          [&](std::string_view e) { return applier.Apply(e); }));
  }
  common::Log(
      common::LogLevel::kInfo, "mongodb",
      absl::StrCat("restored ", routed.collections_size(), " collections and views through ",
                   router->address(), "; ", applier.applied(),
                   " journal entries replayed to the cluster time (", applier.passed_over(),
                   " updates passed over: they did not fit the "
                   "documents as dumped)"));
  return absl::OkStatus();
}

}  // namespace mdb::engine::mongodb
