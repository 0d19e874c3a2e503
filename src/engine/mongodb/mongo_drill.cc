// Restore drills of MongoDB backups. `local`: one throwaway server per shard, of the configured
// MongoDB-protocol binary: `mongod` (a fresh --dbpath) or FerretDB (SQLite files), on 127.0.0.1.
// A scratch cluster is emptied (its user databases dropped) before and after. The check: the
// restore itself compared every collection's documents with the count and digest the backup
// recorded as it loaded them (mongo_restore.cc); the drill then finds every collection and view
// of the backup in the restored server.
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/host_options.h"
#include "common/status.h"
#include "engine/loopback_scratch.h"
#include "engine/mongodb/mongo_conn.h"
#include "engine/mongodb/mongo_engine.h"
#include "engine/mongodb/mongo_util.h"

namespace mdb::engine::mongodb {
namespace {

// mongod (a fresh --dbpath) or FerretDB (SQLite files) on 127.0.0.1, with small caches.
class MongoScratch final : public LoopbackScratch {
 public:
  MongoScratch(ScratchRequest req, std::vector<std::string> shards)
      : LoopbackScratch(std::move(req), common::Engine::MONGODB, std::move(shards),
                        absl::Seconds(60)) {}

 private:
  absl::StatusOr<Launch> Prepare(size_t shard, const std::string& dir, int port,
                                 int attempt) override {
    const std::string binary = Binary("mongod", "/usr/bin/mongod");
    const std::string data = absl::StrCat(dir, "/data-", attempt);
    RETURN_IF_ERROR(common::MakeOwnedDir(data, request().process.uid, request().process.gid));
    Launch launch{.argv = {}, .host = {.address = absl::StrCat("127.0.0.1:", port), .options = {}}};
    if (absl::StrContains(binary.substr(binary.rfind('/') + 1), "ferretdb")) {
      const std::string state = absl::StrCat(dir, "/state-", attempt);
      RETURN_IF_ERROR(common::MakeOwnedDir(state, request().process.uid, request().process.gid));
      launch.argv = {binary,
                     "--handler=sqlite",
                     "--sqlite-url=file:" + data + "/",
                     absl::StrCat("--listen-addr=127.0.0.1:", port),
                     "--state-dir=" + state,
                     "--telemetry=disable",
                     "--debug-addr=-",
                     "--log-format=text"};
    } else {
      launch.argv = {binary,
                     "--dbpath",
                     data,
                     "--bind_ip",
                     "127.0.0.1",
                     "--port",
                     absl::StrCat(port),
                     "--nounixsocket",
                     "--wiredTigerCacheSizeGB",
                     "0.25"};
    }
    return launch;
  }
  bool Answers(const common::HostConfig& host) override {
    auto conn = ConnectHost(host, absl::Seconds(2), request().cancelled);
    return conn.ok() && (*conn)->Command("admin", R"({"ping": 1})").ok();
  }
};

// The names of the collections and views of `db` in the restored server.
absl::StatusOr<std::set<std::string>> CollectionNames(MongoConn* conn, const std::string& db) {
  ASSIGN_OR_RETURN(Bson reply, conn->Command(db, R"({"listCollections": 1, "nameOnly": true})"));
  std::set<std::string> out;
  Bson cursor, batch;
  if (!GetDocument(reply.get(), "cursor", &cursor) ||
      !GetDocument(cursor.get(), "firstBatch", &batch)) {
    return absl::DataLossError("unexpected listCollections reply");
  }
  bson_iter_t it;
  if (bson_iter_init(&it, batch.get())) {
    while (bson_iter_next(&it)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) continue;
      uint32_t len = 0;
      const uint8_t* data = nullptr;
      bson_iter_document(&it, &len, &data);
      bson_t doc;
      if (bson_init_static(&doc, data, len)) out.insert(GetString(&doc, "name"));
    }
  }
  return out;
}

// The roles ("db.role") that user `id` ("db.name") holds; none when it does not exist.
absl::StatusOr<std::vector<std::string>> RolesOf(MongoConn* conn, const std::string& id) {
  std::vector<std::string> out;
  Collection users(mongoc_client_get_collection(conn->client(), "admin", "system.users"));
  Bson filter, opts;
  BSON_APPEND_UTF8(filter.get(), "_id", id.c_str());
  Cursor cur(mongoc_collection_find_with_opts(users.get(), filter.get(), opts.get(), nullptr));
  RETURN_IF_ERROR(ForEach(conn, cur.get(), "reading the service's user", [&](const bson_t* user) {
    Bson roles;
    bson_iter_t it;
    if (!GetDocument(user, "roles", &roles) || !bson_iter_init(&it, roles.get())) {
      return absl::OkStatus();
    }
    while (bson_iter_next(&it)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) continue;
      uint32_t len;
      const uint8_t* data;
      bson_iter_document(&it, &len, &data);
      bson_t doc;
      if (bson_init_static(&doc, data, len)) {
        out.push_back(absl::StrCat(GetString(&doc, "db"), ".", GetString(&doc, "role")));
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scratch>> MongoDriver::PrepareScratch(const ScratchRequest& req) {
  mdb_backup::v1::MongoBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  std::vector<std::string> shards;
  for (const auto& s : meta.shards()) shards.push_back(s.name());
  return std::make_unique<MongoScratch>(req, std::move(shards));
}

absl::Status MongoDriver::EmptyScratch(const common::ClusterConfig& scratch,
                                       const std::atomic<bool>* cancelled) {
  for (const auto& shard : scratch.shards) {
    if (shard.hosts.empty()) continue;
    ASSIGN_OR_RETURN(auto conn, ConnectHost(shard.hosts.front(), absl::Seconds(60), cancelled));
    ASSIGN_OR_RETURN(auto dbs, UserDatabases(conn.get()));
    for (const auto& db : dbs) {
      RETURN_IF_ERROR(conn->Command(db, R"({"dropDatabase": 1})").status());
    }
    // And the users and roles a drill restored (a production cluster's credentials have no
    // business staying on a scratch server), but for the one the service logs in as.
    const common::HostConfig& host = shard.hosts.front();
    std::string self = absl::StrCat(common::HostOption(host, "auth_source", "admin"), ".",
                                    common::HostOption(host, "user"));
    // The roles the service's own user holds stay with it.
    ASSIGN_OR_RETURN(std::vector<std::string> keep, RolesOf(conn.get(), self));
    keep.push_back(self);
    for (const char* coll : {"system.users", "system.roles"}) {
      Bson cmd;
      BSON_APPEND_UTF8(cmd.get(), "delete", coll);
      bson_t array, item, query, id, nin;
      BSON_APPEND_ARRAY_BEGIN(cmd.get(), "deletes", &array);
      BSON_APPEND_DOCUMENT_BEGIN(&array, "0", &item);
      BSON_APPEND_DOCUMENT_BEGIN(&item, "q", &query);
      BSON_APPEND_DOCUMENT_BEGIN(&query, "_id", &id);
      BSON_APPEND_ARRAY_BEGIN(&id, "$nin", &nin);
      for (size_t i = 0; i < keep.size(); ++i) {
        BSON_APPEND_UTF8(&nin, std::to_string(i).c_str(), keep[i].c_str());
      }
      bson_append_array_end(&id, &nin);
      bson_append_document_end(&query, &id);
      bson_append_document_end(&item, &query);
      BSON_APPEND_INT32(&item, "limit", 0);
      bson_append_document_end(&array, &item);
      bson_append_array_end(cmd.get(), &array);
      RETURN_IF_ERROR(conn->Command("admin", cmd.get()).status());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<VerifyResult> MongoDriver::VerifyRestored(const VerifyRequest& req) {
  mdb_backup::v1::MongoBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  VerifyResult out;
  for (int i = 0; i < meta.shards_size() && static_cast<size_t>(i) < req.target->shards.size();
       ++i) {
    const auto& shard = meta.shards(i);
    ASSIGN_OR_RETURN(auto conn, ConnectHost(req.target->shards[i].hosts.front(), absl::Seconds(60),
                                            req.cancelled));
    std::map<std::string, std::set<std::string>> present;
    uint64_t documents = 0;
    int collections = 0;
    for (const auto& c : shard.collections()) {
      if (!present.count(c.db())) {
        ASSIGN_OR_RETURN(present[c.db()], CollectionNames(conn.get(), c.db()));
      }
      if (!present[c.db()].count(c.name())) {
        out.problems.push_back(absl::StrCat("shard '", shard.name(), "': ", c.type(), " ", c.db(),
                                            ".", c.name(), " is missing after the restore"));
      }
      ++collections;
      documents += c.documents();
    }
    out.checked.push_back(absl::StrCat(
        "shard '", shard.name(), "': ", collections, " collections and views present; ", documents,
        " documents matched the backup's counts and digests as they were loaded"));
  }
  return out;
}

}  // namespace mdb::engine::mongodb
