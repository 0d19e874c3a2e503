// Backup of one shard: pick the member to read (a secondary spares the primary), note where its
// oplog ends, read every collection's options, indexes and documents, then capture the oplog
// entries written meanwhile. Replaying those after the documents (restore) gives the state at the
// last captured entry, whatever order the collections were read in.
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/host_options.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/mongodb/bson_stream.h"
#include "engine/mongodb/mongo_conn.h"
#include "engine/mongodb/mongo_dump.h"
#include "engine/mongodb/mongo_engine.h"
#include "engine/mongodb/mongo_sharded.h"
#include "engine/mongodb/mongo_util.h"
#include "engine/mongodb/sharded.h"
#include "engine/per_shard.h"

namespace mdb::engine::mongodb {
namespace {

using mdb_backup::v1::MongoCollection;
using mdb_backup::v1::MongoShardBackup;

// A find cursor as a byte stream of concatenated documents; digests what it hands out.
class CursorSource final : public io::ByteSource {
 public:
  CursorSource(MongoConn* conn, mongoc_cursor_t* cursor, std::string what,
               const std::atomic<bool>* cancelled)
      : conn_(conn), cursor_(cursor), what_(std::move(what)), cancelled_(cancelled) {}

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    size_t done = 0;
    while (done < n) {
      if (off_ == len_) {
        if (cancelled_ && cancelled_->load()) return absl::CancelledError("backup cancelled");
        const bson_t* doc;
        if (done_ || !mongoc_cursor_next(cursor_, &doc)) {
          bson_error_t error;
          if (!done_ && mongoc_cursor_error(cursor_, &error)) return conn_->Error(error, what_);
          done_ = true;  // a finished cursor must not be advanced again
          break;
        }
        // The document stays valid until the next mongoc_cursor_next: copied out from here.
        data_ = reinterpret_cast<const char*>(bson_get_data(doc));
        len_ = doc->len;
        off_ = 0;
        digest_.Add({data_, len_});
        if (done > 0 && len_ > n - done) {  // hand out what we have before a big copy
          size_t k = n - done;
          memcpy(buf + done, data_, k);
          off_ = k;
          return n;
        }
      }
      size_t k = std::min(n - done, len_ - off_);
      memcpy(buf + done, data_ + off_, k);
      off_ += k;
      done += k;
    }
    return done;
  }

  const DocDigest& digest() const { return digest_; }

 private:
  MongoConn* conn_;
  mongoc_cursor_t* cursor_;
  std::string what_;
  const std::atomic<bool>* cancelled_;
  const char* data_ = nullptr;
  size_t len_ = 0, off_ = 0;
  bool done_ = false;
  DocDigest digest_;
};

// What a database's listings may hold before the source is taken for broken or hostile: far past
// real deployments (MongoDB allows 64 indexes a collection; a million collections in one
// database is well beyond what WiredTiger runs well with).
constexpr int kMaxIndexes = 1000;
constexpr size_t kMaxCollections = 1000000;
constexpr size_t kMaxListedBytes = 256u << 20;

std::string Escape(const std::string& name) {
  return absl::StrReplaceAll(name, {{"%", "%25"}, {"/", "%2F"}});
}

absl::Status BackupCollection(MongoConn* conn, const std::string& shard, const std::string& db,
                              MongoCollection* c, const BackupRequest& req) {
  std::string what = absl::StrCat("collection '", db, ".", c->name(), "'");
  Collection coll(mongoc_client_get_collection(conn->client(), db.c_str(), c->name().c_str()));
  Bson indexes;
  {
    bson_t array;
    BSON_APPEND_ARRAY_BEGIN(indexes.get(), "indexes", &array);
    int n = 0;
    Cursor cur(mongoc_collection_find_indexes_with_opts(coll.get(), nullptr));
    RETURN_IF_ERROR(
        ForEach(conn, cur.get(), absl::StrCat("listIndexes of ", what), [&](const bson_t* spec) {
          // MongoDB allows 64 indexes a collection; a list that goes on is not one of them, and
          // an append past libbson's size limit fails (it was ignored: indexes went missing).
          if (n >= kMaxIndexes) {
            return absl::DataLossError(absl::StrCat("mongodb ", conn->address(),
                                                    ": listIndexes of ", what, " names more than ",
                                                    kMaxIndexes, " indexes (MongoDB allows 64)"));
          }
          std::string key = std::to_string(n++);
          if (!BSON_APPEND_DOCUMENT(&array, key.c_str(), spec)) {
            return absl::DataLossError(absl::StrCat(
                "mongodb ", conn->address(), ": listIndexes of ", what, " is too large to keep"));
          }
          return absl::OkStatus();
        }));
    bson_append_array_end(indexes.get(), &array);
  }
  c->set_indexes(std::string(indexes.bytes()));
  Bson filter, opts;
  BSON_APPEND_INT32(opts.get(), "batchSize", kFindBatch);
  Cursor cur(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  CursorSource source(conn, cur.get(), absl::StrCat("reading ", what), req.cancelled);
  c->set_stream(CollectionStream(shard, db, c->name()));
  RETURN_IF_ERROR(req.writer->AddStream(c->stream(), &source));
  c->set_documents(source.digest().count);
  c->set_bytes(source.digest().bytes);
  c->set_hash(source.digest().hash);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> HasOplog(MongoConn* conn) {
  Database local(mongoc_client_get_database(conn->client(), "local"));
  Bson opts;
  Bson filter;
  BSON_APPEND_UTF8(filter.get(), "name", "oplog.rs");
  BSON_APPEND_DOCUMENT(opts.get(), "filter", filter.get());
  Cursor cur(mongoc_database_find_collections_with_opts(local.get(), opts.get()));
  bool found = false;
  RETURN_IF_ERROR(ForEach(conn, cur.get(), "listCollections on 'local'", [&](const bson_t*) {
    found = true;
    return absl::OkStatus();
  }));
  return found;
}

// The ts of the newest (newest = true) or oldest oplog entry; 0 when the oplog is empty.
absl::StatusOr<uint64_t> OplogEdge(MongoConn* conn, bool newest) {
  Collection oplog(mongoc_client_get_collection(conn->client(), "local", "oplog.rs"));
  Bson filter, opts, sort, projection;
  BSON_APPEND_INT32(sort.get(), "$natural", newest ? -1 : 1);
  BSON_APPEND_DOCUMENT(opts.get(), "sort", sort.get());
  BSON_APPEND_INT32(projection.get(), "ts", 1);
  BSON_APPEND_DOCUMENT(opts.get(), "projection", projection.get());
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  Cursor cur(mongoc_collection_find_with_opts(oplog.get(), filter.get(), opts.get(), nullptr));
  uint64_t ts = 0;
  RETURN_IF_ERROR(ForEach(conn, cur.get(), "reading the oplog's end", [&](const bson_t* doc) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "ts") || !BSON_ITER_HOLDS_TIMESTAMP(&it)) {
      return absl::FailedPreconditionError(
          absl::StrCat("mongodb ", conn->address(), ": an oplog entry has no timestamp 'ts'"));
    }
    uint32_t t, i;
    bson_iter_timestamp(&it, &t, &i);
    ts = PackTs(t, i);
    return absl::OkStatus();
  }));
  return ts;
}

absl::Status BackupDatabase(MongoConn* conn, const std::string& db, MongoShardBackup* out,
                            const BackupRequest& req) {
  Database d(mongoc_client_get_database(conn->client(), db.c_str()));
  std::vector<MongoCollection> found;
  size_t listed_bytes = 0;
  Cursor cur(mongoc_database_find_collections_with_opts(d.get(), nullptr));
  RETURN_IF_ERROR(ForEach(
      conn, cur.get(), absl::StrCat("listCollections of '", db, "'"), [&](const bson_t* info) {
        // A list that never ends must not hold the memory it names.
        listed_bytes += info->len;
        if (found.size() >= kMaxCollections || listed_bytes > kMaxListedBytes) {
          return absl::DataLossError(absl::StrCat(
              "mongodb ", conn->address(), ": listCollections of '", db, "' names more than ",
              kMaxCollections, " collections or ", kMaxListedBytes >> 20, " MiB of them"));
        }
        MongoCollection c;
        c.set_db(db);
        c.set_name(GetString(info, "name"));
        c.set_type(GetString(info, "type"));
        if (c.type().empty()) c.set_type("collection");
        Bson options;
        if (GetDocument(info, "options", &options)) {
          c.set_options(std::string(options.bytes()));
        }
        // system.* collections (profile, js, views) are the server's own.
        if (c.name().rfind("system.", 0) != 0) found.push_back(std::move(c));
        return absl::OkStatus();
      }));
  std::sort(found.begin(), found.end(),
            [](const MongoCollection& a, const MongoCollection& b) { return a.name() < b.name(); });
  for (auto& c : found) {
    if (req.cancelled && req.cancelled->load()) return absl::CancelledError("backup cancelled");
    if (c.type() == "collection") {
      RETURN_IF_ERROR(BackupCollection(conn, out->name(), db, &c, req));
    } else if (c.type() != "view") {
      return absl::UnimplementedError(absl::StrCat("mongodb ", conn->address(), ": '", db, ".",
                                                   c.name(), "' is a ", c.type(),
                                                   ", which this version cannot back up"));
    }
    *out->add_collections() = std::move(c);
  }
  return absl::OkStatus();
}

// Streams the oplog entries with start < ts <= end into the journal stream.
absl::Status BackupOplog(MongoConn* conn, MongoShardBackup* out, const BackupRequest& req) {
  Collection oplog(mongoc_client_get_collection(conn->client(), "local", "oplog.rs"));
  Bson filter, opts, sort;
  bson_t range;
  BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "ts", &range);
  BSON_APPEND_TIMESTAMP(&range, "$gt", static_cast<uint32_t>(out->oplog_start() >> 32),
                        static_cast<uint32_t>(out->oplog_start()));
  BSON_APPEND_TIMESTAMP(&range, "$lte", static_cast<uint32_t>(out->oplog_end() >> 32),
                        static_cast<uint32_t>(out->oplog_end()));
  bson_append_document_end(filter.get(), &range);
  BSON_APPEND_INT32(sort.get(), "$natural", 1);
  BSON_APPEND_DOCUMENT(opts.get(), "sort", sort.get());
  Cursor cur(mongoc_collection_find_with_opts(oplog.get(), filter.get(), opts.get(), nullptr));
  CursorSource source(conn, cur.get(), "reading the oplog", req.cancelled);
  out->set_oplog_stream(OplogStream(out->name()));
  RETURN_IF_ERROR(req.writer->AddStream(out->oplog_stream(), &source));
  out->set_oplog_entries(source.digest().count);
  return absl::OkStatus();
}

absl::StatusOr<MongoCollection> DumpWhole(MongoConn* conn, const std::string& db,
                                          const std::string& name, const std::string& shard,
                                          const BackupRequest& req) {
  MongoCollection c;
  c.set_db(db);
  c.set_name(name);
  c.set_type("collection");
  Collection coll(mongoc_client_get_collection(conn->client(), db.c_str(), name.c_str()));
  Bson filter, opts;
  BSON_APPEND_INT32(opts.get(), "batchSize", kFindBatch);
  Cursor cur(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  CursorSource source(conn, cur.get(), absl::StrCat("reading ", db, ".", name), req.cancelled);
  c.set_stream(CollectionStream(shard, db, name));
  RETURN_IF_ERROR(req.writer->AddStream(c.stream(), &source));
  c.set_documents(source.digest().count);
  c.set_bytes(source.digest().bytes);
  c.set_hash(source.digest().hash);
  return c;
}

absl::Status BackupUsers(MongoConn* conn, MongoShardBackup* out, const BackupRequest& req) {
  for (const char* name : {"system.roles", "system.users"}) {
    auto c = DumpWhole(conn, "admin", name, out->name(), req);
    if (absl::IsPermissionDenied(c.status())) {
      // A backup without the users it was asked to keep would restore a cluster nobody can log
      // in to as before: refused, unless leaving them out is what the declaration says.
      return absl::PermissionDeniedError(absl::StrCat(
          "shard '", out->name(), "': users and roles cannot be read (", c.status().message(),
          "); grant the backup role, or set users: \"false\" to back up without them"));
    }
    if (!c.ok()) return c.status();
    *out->add_auth() = *std::move(c);
  }
  return absl::OkStatus();
}

absl::Status CheckReplayable(MongoConn* conn, const MongoShardBackup& window, bool sharded) {
  Collection oplog(mongoc_client_get_collection(conn->client(), "local", "oplog.rs"));
  Bson filter, opts;
  bson_t range;
  BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "ts", &range);
  BSON_APPEND_TIMESTAMP(&range, "$gt", static_cast<uint32_t>(window.oplog_start() >> 32),
                        static_cast<uint32_t>(window.oplog_start()));
  BSON_APPEND_TIMESTAMP(&range, "$lte", static_cast<uint32_t>(window.oplog_end() >> 32),
                        static_cast<uint32_t>(window.oplog_end()));
  bson_append_document_end(filter.get(), &range);
  BSON_APPEND_UTF8(filter.get(), "op", "c");
  // Committed transactions (o.applyOps without partialTxn or prepare) replay as their writes;
  // on a replica set, other commands (DDL) replay once. Through a router each shard's window
  // would run a DDL once per shard, out of order with the other shards' writes.
  ASSIGN_OR_RETURN(Bson nor,
                   Bson::FromJson(sharded ? R"({"$nor": [{"o.applyOps": {"$exists": true},
                                                          "o.partialTxn": {"$exists": false},
                                                          "o.prepare": {"$exists": false}}]})"
                                          : R"({"$or": [{"o.partialTxn": {"$exists": true}},
                                                       {"o.prepare": {"$exists": true}},
                                                       {"o.commitTransaction": {"$exists": true}},
                                                       {"o.abortTransaction": {"$exists": true}}]})"));
  bson_concat(filter.get(), nor.get());
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  Cursor cur(mongoc_collection_find_with_opts(oplog.get(), filter.get(), opts.get(), nullptr));
  std::string found;
  RETURN_IF_ERROR(ForEach(conn, cur.get(), "reading the oplog window", [&](const bson_t* e) {
    Bson o;
    found = GetDocument(e, "o", &o) ? o.Json().substr(0, 120) : "a command";
    return absl::OkStatus();
  }));
  if (found.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "shard '", window.name(), "' (", conn->address(), "): the oplog window holds ", found,
      sharded ? ", a collection or database change during the backup of a sharded cluster, "
                "which a restore through the router cannot replay once; take the backup again"
              : ", a large or prepared transaction, which this version cannot replay; take the "
                "backup again"));
}

absl::StatusOr<Member> PickMember(const common::ShardConfig& shard,
                                  const std::atomic<bool>* cancelled) {
  Member m;
  std::string errors;
  // A host pass 0 could not reach within its connect deadline (10 s of tries) is not waited
  // for again by pass 1 (before, a dead single-host shard cost twice the deadline).
  std::set<std::string> unreachable;
  for (int pass = 0; pass < 2 && !m.conn; ++pass) {
    for (const auto& host : shard.hosts) {
      if (unreachable.count(host.address)) continue;
      auto c = ConnectHost(host, absl::Minutes(5), cancelled);
      if (absl::IsCancelled(c.status())) return c.status();
      if (!c.ok()) {
        unreachable.insert(host.address);
        absl::StrAppend(&errors, " ", c.status().message(), ";");
        continue;
      }
      auto d = Describe(c->get());
      if (!d.ok()) {
        if (pass == 0) absl::StrAppend(&errors, " ", d.status().message(), ";");
        continue;
      }
      if ((pass == 0 && d->secondary) || (pass == 1 && !d->secondary)) {
        m.conn = std::move(*c);
        m.info = *d;
        break;
      }
    }
  }
  if (!m.conn) {
    return absl::UnavailableError(absl::StrCat(
        "shard '", shard.name, "': no reachable MongoDB server:", absl::StripSuffix(errors, ";")));
  }
  return m;
}

namespace {

absl::StatusOr<MongoShardBackup> BackupShard(const common::ShardConfig& shard,
                                             const BackupRequest& req) {
  MongoShardBackup out;
  out.set_name(shard.name);
  // 1. The member to read: a secondary first, then the primary or a standalone server.
  ASSIGN_OR_RETURN(Member member, PickMember(shard, req.cancelled));
  std::unique_ptr<MongoConn> conn = std::move(member.conn);
  const ServerInfo& info = member.info;
  out.set_host(conn->address());
  out.set_role(info.secondary ? "secondary" : info.set_name.empty() ? "standalone" : "primary");
  out.set_server_version(info.version);
  out.set_set_name(info.set_name);
  // 2. Where the oplog ends now: every write after this point is in the journal we capture.
  ASSIGN_OR_RETURN(bool has_oplog, HasOplog(conn.get()));
  out.set_has_oplog(has_oplog);
  if (has_oplog) {
    ASSIGN_OR_RETURN(uint64_t start, OplogEdge(conn.get(), /*newest=*/true));
    out.set_oplog_start(start);
  }
  out.set_dump_started_unix_ms(absl::ToUnixMillis(absl::Now()));
  // 3. The documents.
  ASSIGN_OR_RETURN(auto dbs, UserDatabases(conn.get()));
  for (const auto& db : dbs) RETURN_IF_ERROR(BackupDatabase(conn.get(), db, &out, req));
  if (common::HostOption(shard.hosts.front(), "users", "true") != "false") {
    RETURN_IF_ERROR(BackupUsers(conn.get(), &out, req));
  }
  out.set_dump_ended_unix_ms(absl::ToUnixMillis(absl::Now()));
  // 4. The journal, and proof that none of it was lost: if the oldest entry still in the capped
  // oplog is newer than our start, entries we need were overwritten while we read.
  if (has_oplog) {
    ASSIGN_OR_RETURN(uint64_t end, OplogEdge(conn.get(), /*newest=*/true));
    out.set_oplog_end(end);
    RETURN_IF_ERROR(CheckReplayable(conn.get(), out, /*sharded=*/false));
    RETURN_IF_ERROR(BackupOplog(conn.get(), &out, req));
    ASSIGN_OR_RETURN(uint64_t oldest, OplogEdge(conn.get(), /*newest=*/false));
    if (out.oplog_start() != 0 && oldest > out.oplog_start()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "shard '", shard.name, "' (", conn->address(),
          "): the oplog rolled over during the backup; entries the restore needs are gone. "
          "Enlarge the oplog or back up at a quieter time"));
    }
    out.set_consistency("oplog");
  } else {
    out.set_consistency("per-collection");
  }
  return out;
}

}  // namespace

std::string CollectionStream(const std::string& shard, const std::string& db,
                             const std::string& collection) {
  return absl::StrCat("shard/", shard, "/", Escape(db), "/", Escape(collection), ".bson");
}

std::string OplogStream(const std::string& shard) {
  // Under journal/: the repository accounts these bytes as the backup's journal.
  return absl::StrCat("journal/", shard, "/oplog.bson");
}

absl::StatusOr<BackupResult> MongoDriver::Backup(const BackupRequest& req) {
  if (DiscoversShards(*req.cluster)) return BackupSharded(req);
  ASSIGN_OR_RETURN(
      auto shards,
      BackupEachShard<MongoShardBackup>(
          *req.cluster, [&](const common::ShardConfig& shard) -> absl::StatusOr<MongoShardBackup> {
            auto r = BackupShard(shard, req);
            // Every error names its shard.
            if (r.ok() || absl::IsCancelled(r.status()) ||
                absl::StrContains(r.status().message(), shard.name)) {
              return r;
            }
            return common::WithContext(r.status(), absl::StrCat("shard '", shard.name, "'"));
          }));
  mdb_backup::v1::MongoBackup meta;
  BackupResult result;
  for (auto& shard : shards) {
    result.shard_names.push_back(shard.name());
    *meta.add_shards() = std::move(shard);
  }
  result.metadata = meta.SerializeAsString();
  return result;
}

}  // namespace mdb::engine::mongodb
