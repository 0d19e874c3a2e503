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

#include <condition_variable>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "catalog/catalog.h"
#include "catalog/page_token.h"
#include "common/ids.h"
#include "common/instance_lock.h"
#include "common/status.h"
#include "common/time_util.h"

namespace mdb::catalog {
namespace {

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
};

absl::Status SqliteError(sqlite3* db, const std::string& what) {
  int code = sqlite3_errcode(db);
  std::string msg = absl::StrCat("catalog: ", what, ": ", sqlite3_errmsg(db));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return absl::UnavailableError(msg);
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return absl::DataLossError(msg);
  // A full disk is the operator's to fix and the client's to retry, not a bug: UNAVAILABLE (503),
  // naming where space is needed.
  if (code == SQLITE_FULL) {
    const char* file = sqlite3_db_filename(db, "main");
    return absl::UnavailableError(
        absl::StrCat(msg, ": the file system holding the catalog '", file ? file : "?",
                     "' is full; free space there (nothing was written, retry afterwards)"));
  }
  return absl::InternalError(msg);
}

// One SQLite handle and its prepared statements. Used by one thread at a time.
class Connection {
 public:
  ~Connection() {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path) {
    auto conn = std::unique_ptr<Connection>(new Connection);
    // The catalog holds the page-token signing key: created for its owner only, whatever the
    // umask (SQLite gives its -wal and -shm files the database file's mode). Only when it does
    // not exist yet (O_EXCL): closing a descriptor of a file this process has open in SQLite
    // would drop every POSIX lock the process holds on it.
    if (path != ":memory:") {
      int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) close(fd);
    }
    int rc =
        sqlite3_open_v2(path.c_str(), &conn->db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      return absl::UnavailableError(absl::StrCat(
          "catalog: cannot open '", path, "': ", conn->db_ ? sqlite3_errmsg(conn->db_) : "oom"));
    }
    sqlite3_busy_timeout(conn->db_, 10000);
    RETURN_IF_ERROR(conn->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"));
    return conn;
  }

  absl::Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return SqliteError(db_, msg);
    }
    return absl::OkStatus();
  }

  // Returns the cached statement for `sql`, reset and with bindings cleared.
  absl::StatusOr<sqlite3_stmt*> Prepare(const char* sql) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      return SqliteError(db_, "prepare");
    }
    stmts_[sql] = stmt;
    return stmt;
  }

  // Ends every statement's read. A statement left mid-result would keep its read transaction
  // open, pinning this connection to an old snapshot (and blocking WAL checkpoints).
  void ResetAll() {
    for (auto& [sql, stmt] : stmts_) sqlite3_reset(stmt);
  }

  sqlite3* db() { return db_; }

 private:
  Connection() = default;
  sqlite3* db_ = nullptr;
  std::map<const char*, sqlite3_stmt*> stmts_;  // keyed by the literal's address: one per call site
};

void BindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void BindBlob(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
// Parses a protobuf column in place, without copying the blob first.
bool ParseColumn(sqlite3_stmt* s, int i, google::protobuf::MessageLite* out) {
  const void* p = sqlite3_column_blob(s, i);
  return out->ParseFromArray(p, sqlite3_column_bytes(s, i));
}

std::string ColumnBlob(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  return std::string(static_cast<const char*>(p), sqlite3_column_bytes(s, i));
}

class SqliteCatalog final : public Catalog {
 public:
  explicit SqliteCatalog(std::string path) : path_(std::move(path)) {}

  absl::Status Init() {
    ASSIGN_OR_RETURN(auto conn, Connection::Open(path_));
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
      RETURN_IF_ERROR(c->Exec("BEGIN IMMEDIATE"));
      for (const auto& b : backups) {
        absl::Status st = Upsert(c, b);
        if (!st.ok()) {
          c->ResetAll();
          (void)c->Exec("ROLLBACK");
          return st;
        }
      }
      return c->Exec("COMMIT");
    });
  }

  absl::StatusOr<BackupRecord> GetBackup(const std::string& id) override {
    static const char* kSql = "SELECT record FROM backups WHERE id = ?1";
    BackupRecord out;
    RETURN_IF_ERROR(WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
      BindText(s, 1, id);
      int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE)
        return absl::NotFoundError(absl::StrCat("backup '", id, "' not found"));
      if (rc != SQLITE_ROW) return SqliteError(c->db(), "get backup");
      if (!ParseColumn(s, 0, &out)) {
        return absl::DataLossError(absl::StrCat("catalog: record of backup '", id, "' is corrupt"));
      }
      return absl::OkStatus();
    }));
    return out;
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
    bool by_folder = !q.folder_id.empty();
    std::string scope = absl::StrCat(q.engine, by_folder ? "/folder/" : "/cluster/",
                                     by_folder ? q.folder_id : q.cluster_id);
    PageCursor cursor{.created_ns = INT64_MAX, .seq = INT64_MAX};
    if (!q.page_token.empty()) {
      ASSIGN_OR_RETURN(cursor, codec_->Decode(q.page_token, scope));
    }
    // Row-value comparison keeps the scan on the index: O(page) whatever the page number.
    static const char* kByFolder =
        "SELECT seq, created_ns, record FROM backups WHERE engine = ?1 AND folder_id = ?2 AND "
        "(created_ns, seq) < (?3, ?4) ORDER BY created_ns DESC, seq DESC LIMIT ?5";
    static const char* kByCluster =
        "SELECT seq, created_ns, record FROM backups WHERE engine = ?1 AND cluster_id = ?2 AND "
        "(created_ns, seq) < (?3, ?4) ORDER BY created_ns DESC, seq DESC LIMIT ?5";
    ListPage page;
    PageCursor last;
    bool more = false;
    RETURN_IF_ERROR(WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(by_folder ? kByFolder : kByCluster));
      sqlite3_bind_int(s, 1, q.engine);
      BindText(s, 2, by_folder ? q.folder_id : q.cluster_id);
      sqlite3_bind_int64(s, 3, cursor.created_ns);
      sqlite3_bind_int64(s, 4, cursor.seq);
      sqlite3_bind_int(s, 5, q.page_size + 1);  // one extra row tells whether a next page exists
      int rc;
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (static_cast<int>(page.backups.size()) == q.page_size) {
          more = true;
          break;
        }
        last = {.created_ns = sqlite3_column_int64(s, 1), .seq = sqlite3_column_int64(s, 0)};
        if (!ParseColumn(s, 2, &page.backups.emplace_back())) {
          return absl::DataLossError("catalog: a backup record is corrupt");
        }
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqliteError(c->db(), "list backups");
      sqlite3_reset(s);
      return absl::OkStatus();
    }));
    if (more) page.next_page_token = codec_->Encode(last, scope);
    return page;
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

  absl::Status PutOperation(const OperationRecord& r) override {
    static const char* kSql =
        "INSERT INTO operations(id, folder_id, done, created_ns, body) VALUES(?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(id) DO UPDATE SET folder_id=?2, done=?3, body=?5";
    return WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
      BindText(s, 1, r.operation.id());
      BindText(s, 2, r.folder_id);
      sqlite3_bind_int(s, 3, r.operation.done() ? 1 : 0);
      sqlite3_bind_int64(s, 4, common::ToUnixNanos(r.operation.created_at()));
      BindBlob(s, 5, r.operation.SerializeAsString());
      if (sqlite3_step(s) != SQLITE_DONE) return SqliteError(c->db(), "put operation");
      return absl::OkStatus();
    });
  }

  absl::StatusOr<OperationRecord> GetOperation(const std::string& id) override {
    static const char* kSql = "SELECT folder_id, body FROM operations WHERE id = ?1";
    OperationRecord out;
    RETURN_IF_ERROR(WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
      BindText(s, 1, id);
      int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) {
        return absl::NotFoundError(absl::StrCat("operation '", id, "' not found"));
      }
      if (rc != SQLITE_ROW) return SqliteError(c->db(), "get operation");
      out.folder_id = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      if (!ParseColumn(s, 1, &out.operation)) {
        return absl::DataLossError(absl::StrCat("catalog: operation '", id, "' is corrupt"));
      }
      return absl::OkStatus();
    }));
    return out;
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

  absl::StatusOr<std::vector<OperationRecord>> ListUnfinishedOperations() override {
    static const char* kSql =
        "SELECT folder_id, body FROM operations WHERE done = 0 ORDER BY created_ns";
    std::vector<OperationRecord> out;
    RETURN_IF_ERROR(WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
      int rc;
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        OperationRecord& r = out.emplace_back();
        r.folder_id = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
        if (!ParseColumn(s, 1, &r.operation)) {
          return absl::DataLossError("catalog: an operation record is corrupt");
        }
      }
      if (rc != SQLITE_DONE) return SqliteError(c->db(), "list operations");
      return absl::OkStatus();
    }));
    return out;
  }

 private:
  static absl::Status Upsert(Connection* c, const BackupRecord& b) {
    static const char* kSql =
        "INSERT INTO backups(id, engine, folder_id, cluster_id, created_ns, record) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET engine=?2, folder_id=?3, "
        "cluster_id=?4, created_ns=?5, record=?6";
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
      RETURN_IF_ERROR(c->Exec("COMMIT"));
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
