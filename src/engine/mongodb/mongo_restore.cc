// Restore of one shard into an empty server: collections are created with their options, filled
// in unordered bulk inserts, checked against the backup's digests, then indexed (building an
// index once over loaded data beats maintaining it per insert); views follow, and last the
// journal is replayed, which brings the shard to the backup's consistent point.
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/host_options.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/mongodb/bson_stream.h"
#include "engine/mongodb/mongo_conn.h"
#include "engine/mongodb/mongo_dump.h"
#include "engine/mongodb/mongo_engine.h"
#include "engine/mongodb/mongo_sharded.h"
#include "engine/mongodb/mongo_util.h"
#include "engine/mongodb/oplog_apply.h"
#include "engine/per_shard.h"
#include "io/pipe.h"

namespace mdb::engine::mongodb {
namespace {

using mdb_backup::v1::MongoCollection;
using mdb_backup::v1::MongoShardBackup;

// Inserts are sent in batches of about this many bytes: big enough that round trips do not
// dominate, small enough to keep the restore's memory low (the server's limit is 48 MB).
constexpr size_t kBatchBytes = 4 << 20;

// Unordered bulk inserts of about kBatchBytes: documents go straight from the stream into the
// bulk's own buffer (one copy), which is sent and dropped when full.
class Inserter {
 public:
  Inserter(MongoConn* conn, mongoc_collection_t* coll, std::string what)
      : conn_(conn), coll_(coll), what_(std::move(what)) {}

  absl::Status Add(std::string_view doc) {
    if (!bulk_) {
      Bson opts;
      BSON_APPEND_BOOL(opts.get(), "ordered", false);
      bulk_.reset(mongoc_collection_create_bulk_operation_with_opts(coll_, opts.get()));
      bytes_ = 0;
    }
    bson_t view;
    if (!bson_init_static(&view, reinterpret_cast<const uint8_t*>(doc.data()), doc.size())) {
      return absl::DataLossError(absl::StrCat(what_, ": a stored document is malformed"));
    }
    bson_error_t error;
    // No client-side validation: the documents are what the server gave us (a server accepts
    // keys and strings that libmongoc's default checks would refuse).
    Bson opts;
    BSON_APPEND_BOOL(opts.get(), "validate", false);
    if (!mongoc_bulk_operation_insert_with_opts(bulk_.get(), &view, opts.get(), &error)) {
      return conn_->Error(error, what_);
    }
    bytes_ += doc.size();
    return bytes_ >= kBatchBytes ? Flush() : absl::OkStatus();
  }

  absl::Status Flush() {
    if (!bulk_) return absl::OkStatus();
    Bson reply;
    bson_destroy(reply.get());
    bson_error_t error;
    bool ok = mongoc_bulk_operation_execute(bulk_.get(), reply.get(), &error) != 0;
    bulk_.reset();
    if (!ok)
      return conn_->Error(error, absl::StrCat(what_, " (", reply.Json().substr(0, 400), ")"));
    return absl::OkStatus();
  }

 private:
  MongoConn* conn_;
  mongoc_collection_t* coll_;
  std::string what_;
  Bulk bulk_;
  size_t bytes_ = 0;
};

absl::Status LoadDocuments(const RestoreRequest& req, MongoConn* conn, const MongoCollection& c) {
  Collection coll(mongoc_client_get_collection(conn->client(), c.db().c_str(), c.name().c_str()));
  Inserter inserter(conn, coll.get(), absl::StrCat("inserting into '", c.db(), ".", c.name(), "'"));
  RETURN_IF_ERROR(ForEachStoredDocument(req, c.stream(), [&](std::string_view doc) {
    if (req.bytes_done) *req.bytes_done += static_cast<int64_t>(doc.size());
    return inserter.Add(doc);
  }));
  return inserter.Flush();
}

// Reads the collection back from the server and compares it with what the backup read.
absl::Status Verify(MongoConn* conn, const MongoCollection& c) {
  Collection coll(mongoc_client_get_collection(conn->client(), c.db().c_str(), c.name().c_str()));
  Bson filter, opts;
  BSON_APPEND_INT32(opts.get(), "batchSize", kFindBatch);
  Cursor cur(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  DocDigest got;
  std::string what = absl::StrCat("verifying '", c.db(), ".", c.name(), "'");
  RETURN_IF_ERROR(ForEach(conn, cur.get(), what, [&](const bson_t* doc) {
    got.Add({reinterpret_cast<const char*>(bson_get_data(doc)), doc->len});
    return absl::OkStatus();
  }));
  if (got.count != c.documents() || got.hash != c.hash()) {
    return absl::DataLossError(absl::StrCat(
        "mongodb ", conn->address(), ": collection '", c.db(), ".", c.name(), "' holds ", got.count,
        " documents after the restore but the backup has ", c.documents(),
        got.count == c.documents() ? " (same count, different contents)" : ""));
  }
  return absl::OkStatus();
}

absl::Status CreateIndexes(MongoConn* conn, const MongoCollection& c) {
  ASSIGN_OR_RETURN(Bson all, Bson::FromBytes(c.indexes()));
  Bson cmd;
  BSON_APPEND_UTF8(cmd.get(), "createIndexes", c.name().c_str());
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(cmd.get(), "indexes", &array);
  int n = 0;
  bson_iter_t it, specs;
  if (bson_iter_init_find(&it, all.get(), "indexes") && bson_iter_recurse(&it, &specs)) {
    while (bson_iter_next(&specs)) {
      Bson spec;
      if (!BSON_ITER_HOLDS_DOCUMENT(&specs)) continue;
      uint32_t len;
      const uint8_t* data;
      bson_iter_document(&specs, &len, &data);
      bson_t view;
      if (!bson_init_static(&view, data, len)) continue;
      if (GetString(&view, "name") == "_id_") continue;  // made with the collection
      // `v` (index format) and `ns` are the server's bookkeeping; it chooses them again.
      bson_t clean;
      bson_init(&clean);
      if (!CopyExcept(&view, &clean, {"v", "ns"})) {
        bson_destroy(&clean);
        return absl::DataLossError(
            absl::StrCat("an index of '", c.db(), ".", c.name(), "' is malformed"));
      }
      std::string key = std::to_string(n++);
      BSON_APPEND_DOCUMENT(&array, key.c_str(), &clean);
      bson_destroy(&clean);
    }
  }
  bson_append_array_end(cmd.get(), &array);
  if (n == 0) return absl::OkStatus();
  return conn->Command(c.db(), cmd.get()).status();
}

}  // namespace

// Reads stream `stream` of the backup and calls `each` per document, with bounded memory: the
// repository writes into a pipe on one thread while this one parses.
absl::Status ForEachStoredDocument(const RestoreRequest& req, const std::string& stream,
                                   const std::function<absl::Status(std::string_view)>& each) {
  io::Pipe pipe(4 << 20);  // documents are small: a short pipe keeps the restore's memory low
  absl::Status read_status;
  std::thread reader([&] {
    read_status = req.repository->RestoreStream(*req.manifest, stream, &pipe);
    pipe.Finish();
  });
  absl::Status st;
  BsonReader docs(&pipe);
  for (;;) {
    if (req.cancelled && req.cancelled->load()) {
      st = absl::CancelledError("restore cancelled");
      break;
    }
    auto doc = docs.Next();
    if (!doc.ok()) {
      st = doc.status();
      break;
    }
    if (!*doc) break;
    st = each(**doc);
    if (!st.ok()) break;
  }
  if (!st.ok()) pipe.Abandon();
  reader.join();
  return io::PipeResult(read_status, st);
}

absl::Status CreateCollection(MongoConn* conn, const MongoCollection& c) {
  Bson cmd;
  BSON_APPEND_UTF8(cmd.get(), "create", c.name().c_str());
  if (!c.options().empty()) {
    ASSIGN_OR_RETURN(Bson options, Bson::FromBytes(c.options()));
    bson_iter_t it;
    bson_iter_init(&it, options.get());
    while (bson_iter_next(&it)) {
      bson_append_iter(cmd.get(), bson_iter_key(&it), -1, &it);
    }
  }
  return conn->Command(c.db(), cmd.get()).status();
}

absl::Status RestoreCollection(const RestoreRequest& req, MongoConn* conn, const MongoCollection& c,
                               const std::function<absl::Status()>& before_load) {
  RETURN_IF_ERROR(CreateCollection(conn, c));
  if (before_load) RETURN_IF_ERROR(before_load());
  RETURN_IF_ERROR(LoadDocuments(req, conn, c));
  RETURN_IF_ERROR(Verify(conn, c));
  return CreateIndexes(conn, c);
}

// Roles, then the users holding them, inserted one by one into admin.system.roles/users (what
// mongorestore --restoreDbUsersAndRoles restores): a user or role the target already has (the
// restore's own user, one made by its installation) is kept as it is, never taken over.
absl::Status RestoreUsers(const RestoreRequest& req, MongoConn* conn,
                          const MongoShardBackup& shard) {
  for (const auto& c : shard.auth()) {
    Collection coll(mongoc_client_get_collection(conn->client(), "admin", c.name().c_str()));
    uint64_t made = 0, kept = 0;
    RETURN_IF_ERROR(ForEachStoredDocument(req, c.stream(), [&](std::string_view doc) {
      bson_t view;
      if (!bson_init_static(&view, reinterpret_cast<const uint8_t*>(doc.data()), doc.size())) {
        return absl::DataLossError(
            absl::StrCat("admin.", c.name(), ": a stored entry is malformed"));
      }
      Bson opts;
      BSON_APPEND_BOOL(opts.get(), "validate", false);
      bson_error_t error;
      if (mongoc_collection_insert_one(coll.get(), &view, opts.get(), nullptr, &error)) {
        ++made;
        return absl::OkStatus();
      }
      if (error.code == 11000) {  // DuplicateKey: the target has it
        ++kept;
        return absl::OkStatus();
      }
      absl::Status st = conn->Error(error, absl::StrCat("restoring admin.", c.name()));
      if (absl::IsPermissionDenied(st)) {
        return absl::PermissionDeniedError(
            absl::StrCat(st.message(),
                         "; the restore's user needs the built-in restore role, or set users: "
                         "\"false\" on the target's host to restore without users and roles"));
      }
      return st;
    }));
    common::Log(common::LogLevel::kInfo, "mongodb",
                absl::StrCat("shard '", shard.name(), "': admin.", c.name(), ": ", made,
                             " restored, ", kept, " already on the target kept as they are"));
  }
  return absl::OkStatus();
}

namespace {

absl::Status RestoreShard(const RestoreRequest& req, const MongoShardBackup& shard,
                          const common::ShardConfig& target) {
  if (target.hosts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("target shard '", target.name, "' has no host"));
  }
  // No socket timeout: an index build on a large collection may take hours.
  ASSIGN_OR_RETURN(auto conn,
                   ConnectHost(target.hosts.front(), absl::ZeroDuration(), req.cancelled));
  // Only into an empty server: merging into existing data would mix two states silently.
  ASSIGN_OR_RETURN(auto existing, UserDatabases(conn.get()));
  if (!existing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "target shard '", target.name, "' (", conn->address(), ") already holds database '",
        existing.front(), "'", existing.size() > 1 ? " and others" : "",
        "; restore only into an empty server"));
  }
  for (const auto& c : shard.collections()) {
    if (c.type() != "collection") continue;
    RETURN_IF_ERROR(RestoreCollection(req, conn.get(), c));
  }
  for (const auto& c : shard.collections()) {
    if (c.type() == "view") RETURN_IF_ERROR(CreateCollection(conn.get(), c));
  }
  if (common::HostOption(target.hosts.front(), "users", "true") != "false") {
    RETURN_IF_ERROR(RestoreUsers(req, conn.get(), shard));
  }
  if (!shard.oplog_stream().empty()) {
    OplogApplier applier(conn.get());
    RETURN_IF_ERROR(ForEachStoredDocument(req, shard.oplog_stream(),
                                          [&](std::string_view e) { return applier.Apply(e); }));
    if (applier.passed_over() > 0) {
      common::Log(common::LogLevel::kInfo, "mongodb",
                  absl::StrCat("shard '", shard.name(), "': ", applier.passed_over(),
                               " journal updates did not fit the documents as dumped and were "
                               "passed over (later entries in the window set those fields)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MongoDriver::Restore(const RestoreRequest& req) {
  mdb_backup::v1::MongoBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  if (meta.has_routed()) return RestoreSharded(req, meta);
  return RestoreEachShard(*req.target, meta.shards_size(), [&](size_t i) {
    return RestoreShard(req, meta.shards(i), req.target->shards[i]);
  });
}

}  // namespace mdb::engine::mongodb
