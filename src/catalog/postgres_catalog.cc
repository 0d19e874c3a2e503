// PostgreSQL catalog (libpq), for running mdb-backupd beside a PostgreSQL the team already
// operates (with its own HA, Patroni for example). The same schema and semantics as the SQLite
// catalog (sqlite_catalog.cc): records as serialized protos beside the indexed columns, keyset
// pagination on (created_ns, seq) with the same page tokens, the signing key in the catalog (so
// tokens are valid on every instance sharing it). Why these choices:
// - A pool of connections, each used by one thread at a time (libpq connections are not
//   thread-safe); a connection that failed is dropped, and the next call opens a fresh one.
// - Parameters and results in binary: records are bytea, and nothing is escaped or re-parsed.
// - Migrations under a transaction-scoped advisory lock: instances starting together apply each
//   schema version once.
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "catalog/catalog.h"
#include "catalog/page_token.h"
#include "catalog/postgres_conn.h"
#include "catalog/sql_catalog.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/time_util.h"

namespace mdb::catalog {
namespace {

// Schema versions, applied in order; mdb_schema records how many have been applied.
const char* const kMigrations[] = {
    // 1: backups, operations and the page-token key (as SQLite's version 1).
    R"sql(
    CREATE TABLE mdb_meta(key TEXT PRIMARY KEY, value BYTEA NOT NULL);
    CREATE TABLE mdb_backups(
      seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id TEXT NOT NULL UNIQUE,
      engine INTEGER NOT NULL,
      folder_id TEXT NOT NULL,
      cluster_id TEXT NOT NULL,
      created_ns BIGINT NOT NULL,
      record BYTEA NOT NULL);
    CREATE INDEX mdb_backups_by_folder ON mdb_backups(engine, folder_id, created_ns DESC, seq DESC);
    CREATE INDEX mdb_backups_by_cluster ON mdb_backups(engine, cluster_id, created_ns DESC, seq DESC);
    CREATE TABLE mdb_operations(
      id TEXT PRIMARY KEY,
      folder_id TEXT NOT NULL,
      done BOOLEAN NOT NULL,
      created_ns BIGINT NOT NULL,
      body BYTEA NOT NULL);
    CREATE INDEX mdb_operations_unfinished ON mdb_operations(created_ns) WHERE NOT done;
    )sql",
    // 2: operation leases and named leases (several instances; docs/deployment.md). Rows of
    // older versions get an expired lease: a survivor ends them as a restart did.
    R"sql(
    ALTER TABLE mdb_operations ADD COLUMN owner TEXT NOT NULL DEFAULT '',
      ADD COLUMN lease_ns BIGINT NOT NULL DEFAULT 0,
      ADD COLUMN cancel BOOLEAN NOT NULL DEFAULT false;
    CREATE TABLE mdb_leases(name TEXT PRIMARY KEY, owner TEXT NOT NULL, until_ns BIGINT NOT NULL);
    )sql",
    // 3: operations as data (request), queued until an instance claims one (as SQLite's 3).
    R"sql(
    ALTER TABLE mdb_operations ADD COLUMN request BYTEA NOT NULL DEFAULT ''::bytea;
    UPDATE mdb_operations SET owner = 'a version before queued operations'
      WHERE NOT done AND owner = '';
    CREATE INDEX mdb_operations_queued ON mdb_operations(created_ns) WHERE NOT done AND owner = '';
    )sql",
    // 4: the cluster an operation acts on, and an insertion order to break ties of equal
    // times (SQLite's rowid), for ClusterService.ListOperations (as SQLite's 4).
    R"sql(
    ALTER TABLE mdb_operations ADD COLUMN cluster_id TEXT NOT NULL DEFAULT '',
      ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
    CREATE INDEX mdb_operations_by_cluster
      ON mdb_operations(cluster_id, created_ns DESC, seq DESC);
    )sql",
    // 5: a cluster's backups in one folder (what the API lists of a cluster; SQLite's 7).
    R"sql(
    CREATE INDEX mdb_backups_by_cluster_folder
      ON mdb_backups(engine, cluster_id, folder_id, created_ns DESC, seq DESC);
    )sql",
};

// Arbitrary constants: the advisory locks migrations (pg_advisory_xact_lock) and exclusive use
// (pg_try_advisory_lock) take.
constexpr int64_t kMigrationLock = 0x6d64622d6d696772;  // "mdb-migr"
constexpr int64_t kExclusiveLock = 0x6d64622d6f6e6c79;  // "mdb-only"

using postgres::BigEndian64;
using postgres::Connection;
using postgres::Field;
using postgres::Params;
using postgres::ParseField;
using postgres::ResultPtr;

class PostgresCatalog final : public SqlCatalog<PostgresCatalog, Connection, postgres::Ops> {
 public:
  explicit PostgresCatalog(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  absl::Status Init() {
    ASSIGN_OR_RETURN(auto conn, Connection::Open(conninfo_));
    RETURN_IF_ERROR(Migrate(conn.get()));
    ASSIGN_OR_RETURN(std::string key, LoadOrCreateKey(conn.get()));
    codec_ = std::make_unique<PageTokenCodec>(std::move(key));
    free_.push_back(std::move(conn));
    return absl::OkStatus();
  }

  absl::Status PutBackup(const BackupRecord& b) override {
    return WithConn([&](Connection* c) { return Upsert(c, b); });
  }

  absl::Status PutBackups(const std::vector<BackupRecord>& backups) override {
    return WithConn([&](Connection* c) -> absl::Status {
      RETURN_IF_ERROR(c->Exec("BEGIN", "begin"));
      for (const auto& b : backups) {
        if (absl::Status st = Upsert(c, b); !st.ok()) {
          (void)c->Exec("ROLLBACK", "rollback");
          return st;
        }
      }
      return c->Exec("COMMIT", "commit");
    });
  }

  absl::StatusOr<BackupRecord> GetBackup(const std::string& id) override {
    BackupRecord out;
    RETURN_IF_ERROR(WithConn([&](Connection* c) {
      return ReadBackup(c, "SELECT record FROM mdb_backups WHERE id = $1", id, &out);
    }));
    return out;
  }

  absl::StatusOr<std::vector<std::string>> ListAllBackupIds() override {
    std::vector<std::string> out;
    RETURN_IF_ERROR(WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(ResultPtr r, c->Run("SELECT id FROM mdb_backups", {}, "list backup ids"));
      for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(Field(r.get(), i, 0));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<ListPage> ListBackups(const ListQuery& q) override {
    const bool by_folder = q.cluster_id.empty();
    const bool in_folder = !by_folder && !q.folder_id.empty();  // a cluster's, in one folder
    std::string scope = absl::StrCat(q.engine, by_folder ? "/folder/" : "/cluster/",
                                     by_folder ? q.folder_id : q.cluster_id,
                                     in_folder ? absl::StrCat("/in/", q.folder_id) : "");
    PageCursor cursor{.created_ns = INT64_MAX, .seq = INT64_MAX};
    if (!q.page_token.empty()) {
      ASSIGN_OR_RETURN(cursor, codec_->Decode(q.page_token, scope));
    }
    // Row-value comparison keeps the scan on the index: O(page) whatever the page number.
    static const char* kByFolder =
        "SELECT seq, created_ns, record FROM mdb_backups WHERE engine = $1::int4 AND "
        "folder_id = $2 AND (created_ns, seq) < ($3::int8, $4::int8) "
        "ORDER BY created_ns DESC, seq DESC LIMIT $5::int8";
    static const char* kByCluster =
        "SELECT seq, created_ns, record FROM mdb_backups WHERE engine = $1::int4 AND "
        "cluster_id = $2 AND (created_ns, seq) < ($3::int8, $4::int8) "
        "ORDER BY created_ns DESC, seq DESC LIMIT $5::int8";
    static const char* kByClusterInFolder =
        "SELECT seq, created_ns, record FROM mdb_backups WHERE engine = $1::int4 AND "
        "cluster_id = $2 AND (created_ns, seq) < ($3::int8, $4::int8) AND folder_id = $6 "
        "ORDER BY created_ns DESC, seq DESC LIMIT $5::int8";
    ListPage page;
    PageCursor last;
    bool more = false;
    RETURN_IF_ERROR(WithConn([&](Connection* c) -> absl::Status {
      page = ListPage();  // a retry on a fresh connection starts over
      Params params;
      params.Int32(q.engine)
          .Text(by_folder ? q.folder_id : q.cluster_id)
          .Int64(cursor.created_ns)
          .Int64(cursor.seq)
          .Int64(q.page_size + 1);
      if (in_folder) params.Text(q.folder_id);
      ASSIGN_OR_RETURN(ResultPtr r, c->Run(by_folder   ? kByFolder
                                           : in_folder ? kByClusterInFolder
                                                       : kByCluster,
                                           std::move(params), "list backups"));
      int n = PQntuples(r.get());
      for (int i = 0; i < n; ++i) {
        if (i == q.page_size) {
          more = true;
          break;
        }
        last = {.created_ns = BigEndian64(PQgetvalue(r.get(), i, 1)),
                .seq = BigEndian64(PQgetvalue(r.get(), i, 0))};
        if (q.unparsed) {
          // Records come with the page here (one round trip): digests are taken of them, and
          // `known` is not asked.
          const std::string& record =
              page.records.emplace_back(PQgetvalue(r.get(), i, 2), PQgetlength(r.get(), i, 2));
          page.digests.push_back(DigestOf(record));
        } else if (!ParseField(r.get(), i, 2, &page.backups.emplace_back())) {
          return absl::DataLossError("catalog: a backup record is corrupt");
        }
      }
      return absl::OkStatus();
    }));
    if (more) page.next_page_token = codec_->Encode(last, scope);
    return page;
  }

  absl::Status ModifyBackup(const std::string& id,
                            const std::function<absl::Status(BackupRecord*)>& change) override {
    return WithConn([&](Connection* c) -> absl::Status {
      RETURN_IF_ERROR(c->Exec("BEGIN", "begin"));
      absl::Status st = [&]() -> absl::Status {
        // FOR UPDATE: another writer of this row waits until this transaction ends.
        BackupRecord rec;
        RETURN_IF_ERROR(
            ReadBackup(c, "SELECT record FROM mdb_backups WHERE id = $1 FOR UPDATE", id, &rec));
        RETURN_IF_ERROR(CheckedChange(id, change, &rec));
        return c
            ->Run("UPDATE mdb_backups SET record = $2::bytea WHERE id = $1",
                  std::move(Params().Text(id).Bytes(rec.SerializeAsString())), "update backup")
            .status();
      }();
      if (!st.ok()) {
        (void)c->Exec("ROLLBACK", "rollback");
        return st;
      }
      return c->Exec("COMMIT", "commit");
    });
  }

  absl::Status DeleteBackup(const std::string& id) override {
    int attempt = 0;
    return WithConn([&](Connection* c) -> absl::Status {
      ++attempt;
      ASSIGN_OR_RETURN(ResultPtr r, c->Run("DELETE FROM mdb_backups WHERE id = $1",
                                           std::move(Params().Text(id)), "delete backup"));
      // On the retry after a dead connection, none deleted may mean the first try did (its
      // reply lost): the row is gone either way, which is what the caller asked.
      if (std::string(PQcmdTuples(r.get())) == "0" && attempt == 1) {
        return absl::NotFoundError(absl::StrCat("backup '", id, "' not found"));
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::unique_ptr<ExclusiveUse>> AcquireExclusiveUse() override {
    return TakeUse(/*shared=*/false);
  }
  absl::StatusOr<std::unique_ptr<ExclusiveUse>> AcquireSharedUse() override {
    return TakeUse(/*shared=*/true);
  }

 private:
  // The record of backup `id` by `sql` (its one parameter the id); NotFound when there is none.
  static absl::Status ReadBackup(Connection* c, const char* sql, const std::string& id,
                                 BackupRecord* out) {
    ASSIGN_OR_RETURN(ResultPtr r, c->Run(sql, std::move(Params().Text(id)), "get backup"));
    if (PQntuples(r.get()) == 0) {
      return absl::NotFoundError(absl::StrCat("backup '", id, "' not found"));
    }
    if (!ParseField(r.get(), 0, 0, out)) {
      return absl::DataLossError(absl::StrCat("catalog: record of backup '", id, "' is corrupt"));
    }
    return absl::OkStatus();
  }

  // A session advisory lock on a connection of its own, held while the object lives:
  // instances hold it shared, catalog rebuild (and versions before several instances) alone.
  // PostgreSQL releases it when the connection (or the process) ends; a failover releases it
  // too, which then only lets a rebuild start beside running instances.
  absl::StatusOr<std::unique_ptr<ExclusiveUse>> TakeUse(bool shared) {
    ASSIGN_OR_RETURN(auto conn, Connection::Open(conninfo_));
    ASSIGN_OR_RETURN(ResultPtr r,
                     conn->Run(shared ? "SELECT pg_try_advisory_lock_shared($1::int8)"
                                      : "SELECT pg_try_advisory_lock($1::int8)",
                               std::move(Params().Int64(kExclusiveLock)), "take the catalog"));
    if (PQgetvalue(r.get(), 0, 0)[0] != 1) {
      std::string holder = "another process";
      auto who = conn->Run(
          "SELECT string_agg(coalesce(a.application_name, '') || ' at ' || "
          "coalesce(host(a.client_addr), 'a local socket'), ', ') "
          "FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
          "WHERE l.locktype = 'advisory' AND l.granted AND "
          "l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND "
          "l.classid::int8 = ($1::int8 >> 32) AND l.objid::int8 = ($1::int8 & 4294967295)",
          std::move(Params().Int64(kExclusiveLock)), "find the holder");
      if (who.ok() && PQntuples(who->get()) > 0 && PQgetlength(who->get(), 0, 0) > 0) {
        holder = Field(who->get(), 0, 0);
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "the PostgreSQL catalog is in use by ", holder,
          shared ? " alone (mdb-backup catalog rebuild, or an mdb-backupd older than several "
                   "instances): stop it first"
                 : " (mdb-backupd instances, or a catalog rebuild): stop them first"));
    }
    // Unlocked explicitly before the connection closes: a closed socket ends its backend
    // asynchronously, so a rebuild started right after the instances stopped could still find
    // the lock held (seen on CI).
    struct Held final : ExclusiveUse {
      std::unique_ptr<Connection> conn;
      bool shared = false;
      ~Held() override {
        (void)conn->Run(shared ? "SELECT pg_advisory_unlock_shared($1::int8)"
                               : "SELECT pg_advisory_unlock($1::int8)",
                        std::move(Params().Int64(kExclusiveLock)), "release the catalog");
      }
    };
    auto held = std::make_unique<Held>();
    held->conn = std::move(conn);
    held->shared = shared;
    return std::unique_ptr<ExclusiveUse>(std::move(held));
  }

  static absl::Status Upsert(Connection* c, const BackupRecord& b) {
    static const char* kSql =
        "INSERT INTO mdb_backups(id, engine, folder_id, cluster_id, created_ns, record) "
        "VALUES($1, $2::int4, $3, $4, $5::int8, $6::bytea) ON CONFLICT(id) DO UPDATE SET "
        "engine = $2::int4, folder_id = $3, cluster_id = $4, created_ns = $5::int8, "
        "record = $6::bytea";
    return c
        ->Run(kSql,
              std::move(Params()
                            .Text(b.id())
                            .Int32(b.engine())
                            .Text(b.folder_id())
                            .Text(b.cluster_id())
                            .Int64(common::ToUnixNanos(b.created_at()))
                            .Bytes(b.SerializeAsString())),
              absl::StrCat("put backup '", b.id(), "'"))
        .status();
  }

  absl::Status Migrate(Connection* c) {
    RETURN_IF_ERROR(c->Exec("BEGIN", "begin"));
    absl::Status st = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(ResultPtr lock,
                       c->Run("SELECT pg_advisory_xact_lock($1::int8)",
                              std::move(Params().Int64(kMigrationLock)), "lock the schema"));
      RETURN_IF_ERROR(
          c->Exec("CREATE TABLE IF NOT EXISTS mdb_schema(version INTEGER NOT NULL)", "schema"));
      ASSIGN_OR_RETURN(ResultPtr r, c->Run("SELECT coalesce(max(version), 0)::int8 FROM mdb_schema",
                                           {}, "read schema version"));
      int64_t version = BigEndian64(PQgetvalue(r.get(), 0, 0));
      const int64_t latest = static_cast<int64_t>(std::size(kMigrations));
      if (version > latest) {
        return absl::FailedPreconditionError(
            absl::StrCat("the PostgreSQL catalog has schema version ", version,
                         ", newer than this build's ", latest, "; upgrade mdb-backupd"));
      }
      for (int64_t v = version; v < latest; ++v) {
        RETURN_IF_ERROR(c->Exec(kMigrations[v], absl::StrCat("schema version ", v + 1)));
      }
      if (latest > version) {
        RETURN_IF_ERROR(c->Run("DELETE FROM mdb_schema", {}, "schema").status());
        RETURN_IF_ERROR(c->Run("INSERT INTO mdb_schema VALUES($1::int4)",
                               std::move(Params().Int32(static_cast<int32_t>(latest))), "schema")
                            .status());
      }
      return absl::OkStatus();
    }();
    if (!st.ok()) {
      (void)c->Exec("ROLLBACK", "rollback");
      return st;
    }
    return c->Exec("COMMIT", "commit");
  }

  absl::StatusOr<std::string> LoadOrCreateKey(Connection* c) {
    std::string key(32, '\0');
    common::RandomBytes(key.data(), key.size());
    RETURN_IF_ERROR(c->Run("INSERT INTO mdb_meta(key, value) VALUES('page_key', $1::bytea) "
                           "ON CONFLICT(key) DO NOTHING",
                           std::move(Params().Bytes(key)), "store page key")
                        .status());
    ASSIGN_OR_RETURN(ResultPtr r, c->Run("SELECT value FROM mdb_meta WHERE key = 'page_key'", {},
                                         "read page key"));
    if (PQntuples(r.get()) != 1) return absl::DataLossError("catalog: the page key is missing");
    return Field(r.get(), 0, 0);
  }

  // The base's operation calls run through these too.
 public:
  // Runs `fn` on a pooled connection, opening a new one when all are busy; a connection that
  // failed is closed rather than pooled. A pooled connection may have died while idle (the
  // server restarted, or failed over): then `fn` runs once more on a fresh one. That is safe
  // because every call here is idempotent (upserts, deletes by id, reads): one that committed
  // before its reply was lost commits the same again.
  template <typename Fn>
  absl::Status WithConn(Fn fn) {
    std::unique_ptr<Connection> conn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        conn = std::move(free_.back());
        free_.pop_back();
      }
    }
    const bool pooled = conn != nullptr;
    if (!conn) {
      ASSIGN_OR_RETURN(conn, Connection::Open(conninfo_));
    }
    absl::Status st = fn(conn.get());
    if (!conn->healthy() && pooled && absl::IsUnavailable(st)) {
      DropIdle();  // opened before the same outage, most likely dead as well
      ASSIGN_OR_RETURN(conn, Connection::Open(conninfo_));
      st = fn(conn.get());
    }
    if (!conn->healthy()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kMaxIdle) free_.push_back(std::move(conn));
    return st;
  }

  void DropIdle() {
    std::vector<std::unique_ptr<Connection>> idle;
    std::lock_guard<std::mutex> lock(mu_);
    idle.swap(free_);
  }

  const PageTokenCodec& codec() const { return *codec_; }

 private:
  static constexpr size_t kMaxIdle = 16;
  std::string conninfo_;
  std::unique_ptr<PageTokenCodec> codec_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> free_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Catalog>> OpenPostgresCatalog(const std::string& conninfo) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialize");
  auto catalog = std::make_unique<PostgresCatalog>(conninfo);
  RETURN_IF_ERROR(catalog->Init());
  return catalog;
}

}  // namespace mdb::catalog
