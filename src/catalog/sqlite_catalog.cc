// SQLite catalog. Why these choices:
// - WAL mode: readers never block the writer, so List/Get stay fast while backups commit.
// - synchronous=FULL: a committed backup or operation survives power loss, not only a crash.
// - A small pool of connections with cached prepared statements: each API call borrows one, so
//   concurrent calls do not serialize on a single handle and statements are compiled once.
// - Records are stored as serialized protos beside the few columns that are indexed; new record
//   fields then need no migration, only new indexed columns do.
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "catalog/catalog.h"
#include "catalog/page_token.h"
#include "catalog/sql_catalog.h"
#include "catalog/sqlite_conn.h"
#include "common/ids.h"
#include "common/instance_lock.h"
#include "common/status.h"
#include "common/time_util.h"

namespace mdb::catalog {
namespace {

// A version of the backups (Catalog::BackupsVersion), drawn afresh by triggers at every change:
// they live in the file, so every writer's change draws one (this process, `catalog
// import` beside it, an edit by hand), in the writer's own transaction. Random rather than
// counted: after a file is put back from a copy (SQLite's backup API: no trigger runs), a
// count would come back, change by change, to numbers that named other rows. (With
// triggers on the table, SQLite never truncates it unseen.)
// Idempotent: run at every open as well, so that triggers dropped by hand while the service
// was stopped are back before any page is kept (the schema of a catalog in use is this
// service's own, as its rows are).
const char* const kBackupsVersion = R"sql(
    INSERT OR IGNORE INTO meta(key, value) VALUES('backups_version', random());
    CREATE TRIGGER IF NOT EXISTS backups_version_insert AFTER INSERT ON backups
      BEGIN UPDATE meta SET value = random() WHERE key = 'backups_version'; END;
    CREATE TRIGGER IF NOT EXISTS backups_version_update AFTER UPDATE ON backups
      BEGIN UPDATE meta SET value = random() WHERE key = 'backups_version'; END;
    CREATE TRIGGER IF NOT EXISTS backups_version_delete AFTER DELETE ON backups
      BEGIN UPDATE meta SET value = random() WHERE key = 'backups_version'; END;
    )sql";

// Schema versions, applied in order; PRAGMA user_version records how many have been applied.
const char* const kMigrations[] = {
    // 1: backups, operations and the page-token key.
    R"sql(
    CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE backups(
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      engine INTEGER NOT NULL,
      folder_id TEXT NOT NULL,
      cluster_id TEXT NOT NULL,
      created_ns INTEGER NOT NULL,
      record BLOB NOT NULL);
    CREATE INDEX backups_by_folder ON backups(engine, folder_id, created_ns DESC, seq DESC);
    CREATE INDEX backups_by_cluster ON backups(engine, cluster_id, created_ns DESC, seq DESC);
    CREATE TABLE operations(
      id TEXT PRIMARY KEY,
      folder_id TEXT NOT NULL,
      done INTEGER NOT NULL,
      created_ns INTEGER NOT NULL,
      body BLOB NOT NULL);
    CREATE INDEX operations_unfinished ON operations(created_ns) WHERE done = 0;
    )sql",
    // 2: operation leases and named leases (several instances; docs/deployment.md). Rows of
    // older versions get an expired lease: a survivor ends them as the restart did.
    R"sql(
    ALTER TABLE operations ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE operations ADD COLUMN lease_ns INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE operations ADD COLUMN cancel INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE leases(name TEXT PRIMARY KEY, owner TEXT NOT NULL, until_ns INTEGER NOT NULL);
    )sql",
    // 3: operations as data (request), queued until an instance claims one. An unfinished row
    // of an older version has no request: it gets an owner so that it is not taken for queued.
    R"sql(
    ALTER TABLE operations ADD COLUMN request BLOB NOT NULL DEFAULT x'';
    UPDATE operations SET owner = 'a version before queued operations'
      WHERE done = 0 AND owner = '';
    CREATE INDEX operations_queued ON operations(created_ns) WHERE done = 0 AND owner = '';
    )sql",
    // 4: the cluster an operation acts on (ClusterService.ListOperations). Rows of older
    // versions keep '' (their cluster is inside the opaque body): they are not listed. `seq`,
    // the insertion order, breaks ties of equal times (the rowid would do until a VACUUM,
    // which may renumber the rows of a table without an INTEGER PRIMARY KEY).
    R"sql(
    ALTER TABLE operations ADD COLUMN cluster_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE operations ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    UPDATE operations SET seq = rowid;
    CREATE INDEX operations_seq ON operations(seq);
    CREATE INDEX operations_by_cluster ON operations(cluster_id, created_ns DESC, seq DESC);
    )sql",
    // 5: each record's digest (DigestOf) at the end of the listing indexes: an API List
    // reads from the index alone which records it already shows, and the table only for the
    // others (a row looked up per listed backup was a third of a List(100)'s time). A record
    // rewritten without its digest (by hand, or by an older binary still running) loses it:
    // such a row is read and hashed, never taken for the one the API holds.
    R"sql(
    ALTER TABLE backups ADD COLUMN digest BLOB;
    UPDATE backups SET digest = mdb_record_digest(record);
    DROP INDEX backups_by_folder;
    DROP INDEX backups_by_cluster;
    CREATE INDEX backups_by_folder ON backups(engine, folder_id, created_ns DESC, seq DESC, digest);
    CREATE INDEX backups_by_cluster ON backups(engine, cluster_id, created_ns DESC, seq DESC,
                                               digest);
    CREATE TRIGGER backups_digest_follows_record AFTER UPDATE OF record ON backups
      WHEN NEW.digest IS OLD.digest AND NEW.record IS NOT OLD.record
      BEGIN UPDATE backups SET digest = NULL WHERE seq = NEW.seq; END;
    )sql",
    // 6: a version of the backups (BackupsVersion): kBackupsVersion above.
    kBackupsVersion,
    // 7: a cluster's backups in one folder (what the API lists of a cluster), from the index
    // alone as the other listings.
    R"sql(
    CREATE INDEX backups_by_cluster_folder
      ON backups(engine, cluster_id, folder_id, created_ns DESC, seq DESC, digest);
    )sql",
};

using sqlite::BindBlob;
using sqlite::BindText;
using sqlite::ColumnBlob;
using sqlite::Connection;
using sqlite::ParseColumn;
using sqlite::SqliteError;

class SqliteCatalog final : public SqlCatalog<SqliteCatalog, Connection, sqlite::Ops> {
 public:
  explicit SqliteCatalog(std::string path) : path_(std::move(path)) {}

  absl::Status Init() {
    ASSIGN_OR_RETURN(auto conn, Connection::Open(path_));
    RETURN_IF_ERROR(Migrate(conn.get()));
    RETURN_IF_ERROR(conn->Exec(kBackupsVersion));
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
      RETURN_IF_ERROR(c->Exec("BEGIN IMMEDIATE"));
      for (const auto& b : backups) {
        absl::Status st = Upsert(c, b);
        if (!st.ok()) {
          c->ResetAll();
          (void)c->Exec("ROLLBACK");
          return st;
        }
      }
      return c->Commit();
    });
  }

  absl::StatusOr<BackupRecord> GetBackup(const std::string& id) override {
    BackupRecord out;
    RETURN_IF_ERROR(WithConn([&](Connection* c) { return ReadBackup(c, id, &out); }));
    return out;
  }

  absl::StatusOr<std::optional<int64_t>> BackupsVersion() override {
    static const char* kSql = "SELECT value FROM meta WHERE key = 'backups_version'";
    std::optional<int64_t> version;
    RETURN_IF_ERROR(WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
      int rc = sqlite3_step(s);
      if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
        version = sqlite3_column_int64(s, 0);
      }
      sqlite3_reset(s);
      return rc == SQLITE_ROW || rc == SQLITE_DONE ? absl::OkStatus()
                                                   : SqliteError(c->db(), "read backups version");
    }));
    return version;
  }

  absl::StatusOr<std::vector<std::string>> ListAllBackupIds() override {
    std::vector<std::string> out;
    RETURN_IF_ERROR(WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare("SELECT id FROM backups"));
      int rc;
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
      }
      return rc == SQLITE_DONE ? absl::OkStatus() : SqliteError(c->db(), "list backup ids");
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
    // Row-value comparison keeps the scan on the index: O(page) whatever the page number. The
    // unparsed listing reads the digest from the index (covering) and each record the caller
    // does not hold by its rowid, in the same read transaction.
    static const char* kByFolder =
        "SELECT seq, created_ns, record FROM backups WHERE engine = ?1 AND folder_id = ?2 AND "
        "(created_ns, seq) < (?3, ?4) ORDER BY created_ns DESC, seq DESC LIMIT ?5";
    static const char* kByCluster =
        "SELECT seq, created_ns, record FROM backups WHERE engine = ?1 AND cluster_id = ?2 AND "
        "(created_ns, seq) < (?3, ?4) ORDER BY created_ns DESC, seq DESC LIMIT ?5";
    static const char* kDigestsByFolder =
        "SELECT seq, created_ns, digest FROM backups WHERE engine = ?1 AND folder_id = ?2 AND "
        "(created_ns, seq) < (?3, ?4) ORDER BY created_ns DESC, seq DESC LIMIT ?5";
    static const char* kDigestsByCluster =
        "SELECT seq, created_ns, digest FROM backups WHERE engine = ?1 AND cluster_id = ?2 AND "
        "(created_ns, seq) < (?3, ?4) ORDER BY created_ns DESC, seq DESC LIMIT ?5";
    // A cluster's rows in one folder: on their own index (named: with two equalities and no
    // statistics, the planner could take the folder's index and scan the whole folder).
    static const char* kByClusterInFolder =
        "SELECT seq, created_ns, record FROM backups INDEXED BY backups_by_cluster_folder "
        "WHERE engine = ?1 AND cluster_id = ?2 AND folder_id = ?6 AND "
        "(created_ns, seq) < (?3, ?4) ORDER BY created_ns DESC, seq DESC LIMIT ?5";
    static const char* kDigestsByClusterInFolder =
        "SELECT seq, created_ns, digest FROM backups INDEXED BY backups_by_cluster_folder "
        "WHERE engine = ?1 AND cluster_id = ?2 AND folder_id = ?6 AND "
        "(created_ns, seq) < (?3, ?4) ORDER BY created_ns DESC, seq DESC LIMIT ?5";
    static const char* kRecord = "SELECT record FROM backups WHERE seq = ?1";
    const char* sql = q.unparsed ? (by_folder   ? kDigestsByFolder
                                    : in_folder ? kDigestsByClusterInFolder
                                                : kDigestsByCluster)
                                 : (by_folder   ? kByFolder
                                    : in_folder ? kByClusterInFolder
                                                : kByCluster);
    ListPage page;
    if (q.unparsed) {
      page.records.reserve(q.page_size);
      page.digests.reserve(q.page_size);
    }
    PageCursor last;
    bool more = false;
    RETURN_IF_ERROR(WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(sql));
      sqlite3_bind_int(s, 1, q.engine);
      BindText(s, 2, by_folder ? q.folder_id : q.cluster_id);
      sqlite3_bind_int64(s, 3, cursor.created_ns);
      sqlite3_bind_int64(s, 4, cursor.seq);
      sqlite3_bind_int(s, 5, q.page_size + 1);  // one extra row tells whether a next page exists
      if (in_folder) BindText(s, 6, q.folder_id);
      int rc;
      for (int listed = 0; (rc = sqlite3_step(s)) == SQLITE_ROW; ++listed) {
        if (listed == q.page_size) {
          more = true;
          break;
        }
        last = {.created_ns = sqlite3_column_int64(s, 1), .seq = sqlite3_column_int64(s, 0)};
        if (!q.unparsed) {
          if (!ParseColumn(s, 2, &page.backups.emplace_back())) {
            return absl::DataLossError("catalog: a backup record is corrupt");
          }
          continue;
        }
        RecordDigest& digest = page.digests.emplace_back();
        std::string& record = page.records.emplace_back();
        const bool stored = sqlite3_column_bytes(s, 2) == static_cast<int>(digest.size());
        if (stored) memcpy(digest.data(), sqlite3_column_blob(s, 2), digest.size());
        if (stored && q.known && q.known(digest)) continue;
        ASSIGN_OR_RETURN(sqlite3_stmt * r, c->Prepare(kRecord));
        sqlite3_bind_int64(r, 1, last.seq);
        if (sqlite3_step(r) != SQLITE_ROW) return SqliteError(c->db(), "list backups: record");
        record = ColumnBlob(r, 0);
        sqlite3_reset(r);
        // A record read is named by its own bytes, whatever the index said: the caller keys what
        // it derives from it by this. A row without a digest (written outside the service) is
        // asked about here, once, and never taken as held.
        digest = DigestOf(record);
        if (!stored && q.known) q.known(digest);
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqliteError(c->db(), "list backups");
      sqlite3_reset(s);
      return absl::OkStatus();
    }));
    if (more) page.next_page_token = codec_->Encode(last, scope);
    return page;
  }

  absl::Status ModifyBackup(const std::string& id,
                            const std::function<absl::Status(BackupRecord*)>& change) override {
    static const char* kSet =
        "UPDATE backups SET record = ?2, digest = mdb_record_digest(?2) WHERE id = ?1";
    return WithConn([&](Connection* c) -> absl::Status {
      // IMMEDIATE: the write lock from the read on, so no other writer comes in between.
      RETURN_IF_ERROR(c->Exec("BEGIN IMMEDIATE"));
      absl::Status st = [&]() -> absl::Status {
        BackupRecord rec;
        RETURN_IF_ERROR(ReadBackup(c, id, &rec));
        RETURN_IF_ERROR(CheckedChange(id, change, &rec));
        ASSIGN_OR_RETURN(sqlite3_stmt * set, c->Prepare(kSet));
        BindText(set, 1, id);
        BindBlob(set, 2, rec.SerializeAsString());
        if (sqlite3_step(set) != SQLITE_DONE) return SqliteError(c->db(), "update backup");
        return absl::OkStatus();
      }();
      if (!st.ok()) {
        c->ResetAll();
        (void)c->Exec("ROLLBACK");
        return st;
      }
      return c->Commit();
    });
  }

  absl::Status DeleteBackup(const std::string& id) override {
    static const char* kSql = "DELETE FROM backups WHERE id = ?1";
    return WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
      BindText(s, 1, id);
      if (sqlite3_step(s) != SQLITE_DONE) return SqliteError(c->db(), "delete backup");
      if (sqlite3_changes(c->db()) == 0) {
        return absl::NotFoundError(absl::StrCat("backup '", id, "' not found"));
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::unique_ptr<ExclusiveUse>> AcquireExclusiveUse() override {
    // A lock file beside the catalog (common/instance_lock.h): released by the kernel when the
    // process dies.
    struct FileLock final : ExclusiveUse {
      std::unique_ptr<common::InstanceLock> lock;
    };
    auto held = std::make_unique<FileLock>();
    ASSIGN_OR_RETURN(held->lock, common::InstanceLock::Acquire(path_ + ".lock"));
    return std::unique_ptr<ExclusiveUse>(std::move(held));
  }

 private:
  // The record of backup `id` (NotFound when there is none), the statement left reset: a read
  // left mid-result would hold its snapshot.
  static absl::Status ReadBackup(Connection* c, const std::string& id, BackupRecord* out) {
    static const char* kSql = "SELECT record FROM backups WHERE id = ?1";
    ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
    BindText(s, 1, id);
    int rc = sqlite3_step(s);
    absl::Status st;
    if (rc == SQLITE_DONE) {
      st = absl::NotFoundError(absl::StrCat("backup '", id, "' not found"));
    } else if (rc != SQLITE_ROW) {
      st = SqliteError(c->db(), "get backup");
    } else if (!ParseColumn(s, 0, out)) {
      st = absl::DataLossError(absl::StrCat("catalog: record of backup '", id, "' is corrupt"));
    }
    sqlite3_reset(s);
    return st;
  }

  static absl::Status Upsert(Connection* c, const BackupRecord& b) {
    static const char* kSql =
        "INSERT INTO backups(id, engine, folder_id, cluster_id, created_ns, record, digest) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, mdb_record_digest(?6)) ON CONFLICT(id) DO UPDATE SET "
        "engine=?2, folder_id=?3, cluster_id=?4, created_ns=?5, record=?6, "
        "digest=mdb_record_digest(?6)";
    ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
    BindText(s, 1, b.id());
    sqlite3_bind_int(s, 2, b.engine());
    BindText(s, 3, b.folder_id());
    BindText(s, 4, b.cluster_id());
    sqlite3_bind_int64(s, 5, common::ToUnixNanos(b.created_at()));
    BindBlob(s, 6, b.SerializeAsString());
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return SqliteError(c->db(), absl::StrCat("put backup '", b.id(), "'"));
    return absl::OkStatus();
  }

  absl::Status Migrate(Connection* c) {
    ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare("PRAGMA user_version"));
    if (sqlite3_step(s) != SQLITE_ROW) return SqliteError(c->db(), "read schema version");
    int version = sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    const int latest = static_cast<int>(std::size(kMigrations));
    if (version > latest) {
      return absl::FailedPreconditionError(absl::StrCat("catalog '", path_, "' has schema version ",
                                                        version, ", newer than this build's ",
                                                        latest, "; upgrade mdb-backupd"));
    }
    for (int v = version; v < latest; ++v) {
      RETURN_IF_ERROR(c->Exec("BEGIN IMMEDIATE"));
      absl::Status st = c->Exec(kMigrations[v]);
      if (st.ok()) st = c->Exec(absl::StrCat("PRAGMA user_version = ", v + 1).c_str());
      if (!st.ok()) {
        (void)c->Exec("ROLLBACK");
        return st;
      }
      RETURN_IF_ERROR(c->Commit());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> LoadOrCreateKey(Connection* c) {
    std::string key(32, '\0');
    common::RandomBytes(key.data(), key.size());
    ASSIGN_OR_RETURN(sqlite3_stmt * ins,
                     c->Prepare("INSERT OR IGNORE INTO meta(key, value) VALUES('page_key', ?1)"));
    BindBlob(ins, 1, key);
    if (sqlite3_step(ins) != SQLITE_DONE) return SqliteError(c->db(), "store page key");
    ASSIGN_OR_RETURN(sqlite3_stmt * sel, c->Prepare("SELECT value FROM meta WHERE key='page_key'"));
    if (sqlite3_step(sel) != SQLITE_ROW) return SqliteError(c->db(), "read page key");
    std::string stored = ColumnBlob(sel, 0);
    sqlite3_reset(sel);
    return stored;
  }

  // The base's operation calls run through these too.
 public:
  // Runs `fn` on a pooled connection, opening a new one when all are busy.
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
    if (!conn) {
      ASSIGN_OR_RETURN(conn, Connection::Open(path_));
    }
    absl::Status st = fn(conn.get());
    conn->ResetAll();
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kMaxIdle) free_.push_back(std::move(conn));
    return st;
  }

  const PageTokenCodec& codec() const { return *codec_; }

 private:
  static constexpr size_t kMaxIdle = 16;
  std::string path_;
  std::unique_ptr<PageTokenCodec> codec_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> free_;
};

}  // namespace

bool IsPostgresLocation(const std::string& location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

absl::StatusOr<std::unique_ptr<Catalog>> OpenCatalog(const std::string& location) {
  return IsPostgresLocation(location) ? OpenPostgresCatalog(location) : OpenSqliteCatalog(location);
}

absl::StatusOr<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialize");
  auto catalog = std::make_unique<SqliteCatalog>(path);
  RETURN_IF_ERROR(catalog->Init());
  return catalog;
}

}  // namespace mdb::catalog
