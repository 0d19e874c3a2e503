// Restore drills of Redis backups: throwaway redis-servers (one per shard, on 127.0.0.1 with a
// random password, no persistence) to restore into, emptying a declared scratch cluster, and the
// check of what a restore left against the facts the backup read from each RDB.
//
// Why keys and names, not values: the restored server loads the RDB itself and checks its
// CRC-64 as it does, so values arrive as they were stored or the load fails. What the count and
// the name digest add is that the restore loaded every database and every key of it.
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/ids.h"
#include "common/status.h"
#include "engine/loopback_scratch.h"
#include "engine/redis/rdb_keys.h"
#include "engine/redis/redis_acl.h"
#include "engine/redis/redis_conn.h"
#include "engine/redis/redis_engine.h"
#include "repo/codec.h"

namespace mdb::engine::redis {
namespace {

// redis-server on 127.0.0.1 with a random password, written to a file only its user reads (not
// on the command line, which ps shows), and no persistence.
class RedisScratch final : public LoopbackScratch {
 public:
  RedisScratch(ScratchRequest req, std::vector<std::string> shards)
      : LoopbackScratch(std::move(req), common::Engine::REDIS, std::move(shards),
                        absl::Seconds(20)) {}

 private:
  absl::StatusOr<Launch> Prepare(size_t shard, const std::string& dir, int port,
                                 int attempt) override {
    std::string secret(24, '\0');
    common::RandomBytes(secret.data(), secret.size());
    const std::string password = repo::ToHex(secret);
    // A new name each attempt: the directory is the drill user's (common::WriteNewFile).
    const std::string conf = absl::StrCat(dir, "/redis-", attempt, ".conf");
    RETURN_IF_ERROR(common::WriteNewFile(
        conf,
        absl::StrCat("bind 127.0.0.1\nport ", port, "\nrequirepass ", password,
                     "\nsave \"\"\nappendonly no\ndir ", dir, "\nprotected-mode yes\n"),
        request().process.uid, request().process.gid));
    return Launch{
        .argv = {Binary("redis-server", "/usr/bin/redis-server"), conf},
        .host = {.address = absl::StrCat("127.0.0.1:", port), .options = {{"password", password}}}};
  }
  bool Answers(const common::HostConfig& host) override {
    auto conn = ConnectHost(host, absl::Seconds(1));
    return conn.ok() && (*conn)->Command({"PING"}).ok();
  }
};

// Per database of the server: its keys and those with a time to live (INFO keyspace:
// "db0:keys=3,expires=0,avg_ttl=0").
absl::StatusOr<std::map<uint64_t, DbKeys>> KeyCounts(RespConn* conn) {
  ASSIGN_OR_RETURN(RespValue info, conn->Command({"INFO", "keyspace"}));
  std::map<uint64_t, DbKeys> out;
  for (absl::string_view line : absl::StrSplit(info.str, '\n', absl::SkipEmpty())) {
    uint64_t db = 0;
    if (!absl::ConsumePrefix(&line, "db")) continue;
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos || !absl::SimpleAtoi(line.substr(0, colon), &db)) continue;
    DbKeys k;
    for (absl::string_view field : absl::StrSplit(line.substr(colon + 1), ',')) {
      field = absl::StripAsciiWhitespace(field);
      if (absl::ConsumePrefix(&field, "keys=")) (void)absl::SimpleAtoi(field, &k.keys);
      if (absl::ConsumePrefix(&field, "expires=")) (void)absl::SimpleAtoi(field, &k.expires);
    }
    out[db] = k;
  }
  return out;
}

// The order-free digest of every key name of database `db`, by SCAN; nullopt when the walk
// returned another number of names than `keys` (SCAN may repeat a key while the table rehashes:
// the sum would then be wrong for no fault of the data).
absl::StatusOr<std::optional<uint64_t>> NamesHash(RespConn* conn, uint64_t db, uint64_t keys) {
  RETURN_IF_ERROR(conn->Command({"SELECT", absl::StrCat(db)}).status());
  for (int attempt = 0; attempt < 3; ++attempt) {
    uint64_t sum = 0, seen = 0;
    std::string cursor = "0";
    do {
      ASSIGN_OR_RETURN(RespValue page, conn->Command({"SCAN", cursor, "COUNT", "1000"}));
      if (page.type != RespValue::Type::kArray || page.array.size() != 2) {
        return absl::DataLossError("unexpected SCAN reply");
      }
      cursor = page.array[0].str;
      for (const auto& k : page.array[1].array) {
        sum += KeyNameHash(k.str);
        ++seen;
      }
    } while (cursor != "0");
    if (seen == keys) return sum;
  }
  return std::nullopt;
}

absl::Status CheckShard(const mdb_backup::v1::RedisShardBackup& shard,
                        const common::ShardConfig& target, const std::atomic<bool>* cancelled,
                        VerifyResult* out) {
  if (!shard.facts()) {
    out->checked.push_back(
        absl::StrCat("shard '", shard.name(),
                     "': loaded; no facts recorded (module data, or an older version)"));
    return absl::OkStatus();
  }
  std::unique_ptr<RespConn> conn;
  for (const auto& h : target.hosts) {
    auto c = ConnectHost(h, absl::Seconds(30), cancelled);
    if (c.ok()) {
      auto role = GetRole(c->get());
      if (role.ok() && role->master) {
        conn = std::move(*c);
        break;
      }
    }
  }
  if (!conn) return absl::UnavailableError(absl::StrCat("shard '", target.name, "': no master"));
  ASSIGN_OR_RETURN(auto counts, KeyCounts(conn.get()));
  std::map<uint64_t, RdbDbFacts> recorded;
  uint64_t total = 0;
  for (const auto& d : shard.dbs()) {
    recorded[d.db()] = {.keys = d.keys(), .expiring = d.expiring(), .names_hash = d.names_hash()};
    total += d.keys();
  }
  std::vector<std::string> problems = KeyCountProblems(recorded, counts);
  int named = 0;
  for (const auto& d : shard.dbs()) {
    // Names where no key can have expired since: there, the restored set is the recorded one.
    if (d.expiring() != 0 || !problems.empty()) continue;
    ASSIGN_OR_RETURN(auto names, NamesHash(conn.get(), d.db(), counts[d.db()].keys));
    if (!names) continue;
    ++named;
    if (*names != d.names_hash()) {
      problems.push_back(absl::StrCat("db", d.db(), ": the restored key names differ"));
    }
  }
  for (const auto& p : problems) {
    out->problems.push_back(absl::StrCat("shard '", shard.name(), "' ", p));
  }
  out->checked.push_back(absl::StrCat("shard '", shard.name(), "': ", shard.dbs_size(),
                                      " databases, ", total, " keys as the backup recorded; ",
                                      "key names compared in ", named, " of them"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scratch>> RedisDriver::PrepareScratch(const ScratchRequest& req) {
  mdb_backup::v1::RedisBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's redis metadata is damaged");
  }
  if (meta.cluster_mode()) {
    return absl::UnimplementedError(
        "a Redis Cluster backup is drilled into a declared scratch cluster, not `local`");
  }
  std::vector<std::string> shards;
  for (const auto& s : meta.shards()) shards.push_back(s.name());
  return std::make_unique<RedisScratch>(req, std::move(shards));
}

absl::Status RedisDriver::EmptyScratch(const common::ClusterConfig& scratch,
                                       const std::atomic<bool>* cancelled) {
  for (const auto& shard : scratch.shards) {
    for (const auto& h : shard.hosts) {
      ASSIGN_OR_RETURN(auto conn, ConnectHost(h, absl::Seconds(30), cancelled));
      ASSIGN_OR_RETURN(Role role, GetRole(conn.get()));
      if (!role.master) continue;
      RETURN_IF_ERROR(conn->Command({"FLUSHALL"}).status());
      // What a drill restored besides keys: function libraries (Redis 7; FLUSHALL keeps them)
      // and the backup's ACL users, whose passwords belong to the backup's folder.
      auto functions = conn->Command({"FUNCTION", "FLUSH"});
      if (!functions.ok() && !absl::StrContains(functions.status().message(), "unknown")) {
        return functions.status();
      }
      ASSIGN_OR_RETURN(RespValue users, conn->Command({"ACL", "USERS"}));
      const std::set<std::string> kept = KeptAclUsers(h);
      for (const auto& u : users.array) {
        if (!kept.count(u.str)) RETURN_IF_ERROR(conn->Command({"ACL", "DELUSER", u.str}).status());
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<VerifyResult> RedisDriver::VerifyRestored(const VerifyRequest& req) {
  mdb_backup::v1::RedisBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's redis metadata is damaged");
  }
  VerifyResult out;
  for (int i = 0; i < meta.shards_size(); ++i) {
    if (meta.cluster_mode()) {
      out.checked.push_back(absl::StrCat("shard '", meta.shards(i).name(),
                                         "': restored key by key into the cluster (no count)"));
      continue;
    }
    if (static_cast<size_t>(i) >= req.target->shards.size()) break;
    RETURN_IF_ERROR(CheckShard(meta.shards(i), req.target->shards[i], req.cancelled, &out));
  }
  return out;
}

}  // namespace mdb::engine::redis
