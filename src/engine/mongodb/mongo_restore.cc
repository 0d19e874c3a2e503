// Restore of one shard into an empty server: collections are created with their options, filled
// in unordered bulk inserts, checked against the backup's digests, then indexed (building an
// index once over loaded data beats maintaining it per insert); views follow, and last the
// journal is replayed, which brings the shard to the backup's consistent point.
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "engine/mongodb/bson_stream.h"
#include "engine/mongodb/mongo_conn.h"
#include "engine/mongodb/mongo_engine.h"
#include "engine/mongodb/mongo_util.h"
#include "engine/mongodb/oplog_apply.h"
#include "engine/per_shard.h"
#include "io/pipe.h"

namespace mdb::engine::mongodb {
namespace {

using mdb_backup::v1::MongoCollection;
using mdb_backup::v1::MongoShardBackup;

// Inserts are sent in batches of about this many bytes (the server splits at 48 MB messages).
constexpr size_t kBatchBytes = 8 << 20;

// Reads stream `stream` of the backup and calls `each` per document, with bounded memory: the
// repository writes into a pipe on one thread while this one parses.
absl::Status ForEachStoredDocument(const RestoreRequest& req, const std::string& stream,
                                   const std::function<absl::Status(std::string_view)>& each) {
  io::Pipe pipe;
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
  RETURN_IF_ERROR(read_status);
  return st;
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

absl::Status Flush(MongoConn* conn, mongoc_collection_t* coll, std::vector<Bson>* batch,
                   const std::string& what) {
  if (batch->empty()) return absl::OkStatus();
  Bson opts;
  BSON_APPEND_BOOL(opts.get(), "ordered", false);
  Bulk bulk(mongoc_collection_create_bulk_operation_with_opts(coll, opts.get()));
  bson_error_t error;
  for (const auto& doc : *batch) {
    if (!mongoc_bulk_operation_insert_with_opts(bulk.get(), doc.get(), nullptr, &error)) {
      return conn->Error(error, what);
    }
  }
  Bson reply;
  bson_destroy(reply.get());
  bool ok = mongoc_bulk_operation_execute(bulk.get(), reply.get(), &error) != 0;
  batch->clear();
  if (!ok) return conn->Error(error, absl::StrCat(what, " (", reply.Json().substr(0, 400), ")"));
  return absl::OkStatus();
}

absl::Status LoadDocuments(const RestoreRequest& req, MongoConn* conn, const MongoCollection& c) {
  std::string what = absl::StrCat("inserting into '", c.db(), ".", c.name(), "'");
  Collection coll(mongoc_client_get_collection(conn->client(), c.db().c_str(), c.name().c_str()));
  std::vector<Bson> batch;
  size_t batch_bytes = 0;
  RETURN_IF_ERROR(ForEachStoredDocument(req, c.stream(), [&](std::string_view doc) {
    ASSIGN_OR_RETURN(Bson d, Bson::FromBytes(doc));
    batch.push_back(std::move(d));
    batch_bytes += doc.size();
    if (req.bytes_done) *req.bytes_done += static_cast<int64_t>(doc.size());
    if (batch_bytes >= kBatchBytes) {
      batch_bytes = 0;
      return Flush(conn, coll.get(), &batch, what);
    }
    return absl::OkStatus();
  }));
  return Flush(conn, coll.get(), &batch, what);
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
      bson_copy_to_excluding_noinit(&view, &clean, "v", "ns", nullptr);
      std::string key = std::to_string(n++);
      BSON_APPEND_DOCUMENT(&array, key.c_str(), &clean);
      bson_destroy(&clean);
    }
  }
  bson_append_array_end(cmd.get(), &array);
  if (n == 0) return absl::OkStatus();
  return conn->Command(c.db(), cmd.get()).status();
}

absl::Status RestoreShard(const RestoreRequest& req, const MongoShardBackup& shard,
                          const common::ShardConfig& target) {
  if (target.hosts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("target shard '", target.name, "' has no host"));
  }
  ASSIGN_OR_RETURN(auto conn, ConnectHost(target.hosts.front()));
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
    RETURN_IF_ERROR(CreateCollection(conn.get(), c));
    RETURN_IF_ERROR(LoadDocuments(req, conn.get(), c));
    RETURN_IF_ERROR(Verify(conn.get(), c));
    RETURN_IF_ERROR(CreateIndexes(conn.get(), c));
  }
  for (const auto& c : shard.collections()) {
    if (c.type() == "view") RETURN_IF_ERROR(CreateCollection(conn.get(), c));
  }
  if (!shard.oplog_stream().empty()) {
    OplogApplier applier(conn.get());
    RETURN_IF_ERROR(ForEachStoredDocument(req, shard.oplog_stream(),
                                          [&](std::string_view e) { return applier.Apply(e); }));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MongoDriver::Restore(const RestoreRequest& req) {
  mdb_backup::v1::MongoBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  return RestoreEachShard(*req.target, meta.shards_size(), [&](size_t i) {
    return RestoreShard(req, meta.shards(i), req.target->shards[i]);
  });
}

}  // namespace mdb::engine::mongodb
