// The SQLite catalog's connection and binding helpers, shared by its files (internal to
// catalog/: sqlite_catalog.cc for backups, sqlite_operations.cc for operations and leases).
#pragma once

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catalog/catalog.h"
#include "catalog/page_token.h"
#include "common/status.h"
#include "google/protobuf/message_lite.h"

namespace mdb::catalog::sqlite {

inline absl::Status SqliteError(sqlite3* db, const std::string& what) {
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
    for (auto& [sql, cached] : stmts_) sqlite3_finalize(cached.stmt);
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
    // mdb_record_digest(record): DigestOf in SQL, so that every statement that writes a
    // record writes its digest from the same bytes (and the migration fills older rows').
    rc = sqlite3_create_function(
        conn->db_, "mdb_record_digest", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
        [](sqlite3_context* ctx, int, sqlite3_value** argv) {
          const void* p = sqlite3_value_blob(argv[0]);
          RecordDigest d = DigestOf(
              std::string_view(static_cast<const char*>(p), p ? sqlite3_value_bytes(argv[0]) : 0));
          sqlite3_result_blob(ctx, d.data(), static_cast<int>(d.size()), SQLITE_TRANSIENT);
        },
        nullptr, nullptr);
    if (rc != SQLITE_OK) return SqliteError(conn->db_, "register mdb_record_digest");
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

  // COMMIT; when it fails (SQLITE_BUSY, a full disk) the transaction may still be open: rolled
  // back, so that the connection goes back to the pool outside any transaction (else it would
  // keep the write lock, and later writes on it would join a transaction never committed).
  absl::Status Commit() {
    absl::Status st = Exec("COMMIT");
    if (!st.ok() && !sqlite3_get_autocommit(db_)) {
      ResetAll();
      (void)Exec("ROLLBACK");
    }
    return st;
  }

  // A statement built once (a function-local static): cached by its text's address as well.
  absl::StatusOr<sqlite3_stmt*> Prepare(const std::string& sql) { return Prepare(sql.c_str()); }

  // Returns the cached statement for `sql`, reset and with bindings cleared.
  absl::StatusOr<sqlite3_stmt*> Prepare(const char* sql) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) {
      sqlite3_reset(it->second.stmt);
      sqlite3_clear_bindings(it->second.stmt);
      HandOut(&it->second);
      return it->second.stmt;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      return SqliteError(db_, "prepare");
    }
    Cached& cached = stmts_[sql];
    cached.stmt = stmt;
    HandOut(&cached);
    return stmt;
  }

  // Ends every statement's read. A statement left mid-result would keep its read transaction
  // open, pinning this connection to an old snapshot (and blocking WAL checkpoints). Only those
  // handed out since the last call can be: resetting every cached one (dozens) after each call
  // was a measurable share of a catalog read's time.
  void ResetAll() {
    for (Cached* c : used_) {
      sqlite3_reset(c->stmt);
      c->handed_out = false;
    }
    used_.clear();
  }

  sqlite3* db() { return db_; }

 private:
  Connection() = default;
  sqlite3* db_ = nullptr;
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool handed_out = false;  // since the last ResetAll: in used_
  };
  void HandOut(Cached* c) {
    if (c->handed_out) return;  // once however often (a statement per row of a page)
    c->handed_out = true;
    used_.push_back(c);
  }

  std::map<const char*, Cached> stmts_;  // keyed by the literal's address: one per call site
  std::vector<Cached*> used_;            // handed out since the last ResetAll (map nodes stay)
};

inline void BindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
inline void BindBlob(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
// Parses a protobuf column in place, without copying the blob first.
inline bool ParseColumn(sqlite3_stmt* s, int i, google::protobuf::MessageLite* out) {
  const void* p = sqlite3_column_blob(s, i);
  return out->ParseFromArray(p, sqlite3_column_bytes(s, i));
}

inline std::string ColumnBlob(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  return std::string(static_cast<const char*>(p), sqlite3_column_bytes(s, i));
}

// Operations and leases (sqlite_operations.cc), each on a connection the catalog lends
// (catalog/sql_catalog.h calls them).
struct Ops {
  static absl::Status PutOperation(Connection* c, const OperationRecord& r);
  static absl::StatusOr<OperationRecord> GetOperation(Connection* c, const std::string& id);
  static absl::Status ListUnfinishedOperations(Connection* c, std::vector<OperationRecord>* out);
  // Up to `limit` rows of the cluster after `after` (newest first), each with its position.
  static absl::Status ListClusterOperations(
      Connection* c, const std::string& cluster_id, PageCursor after, int limit,
      std::vector<std::pair<PageCursor, OperationRecord>>* out);
  static absl::StatusOr<OperationLease> RenewOperation(Connection* c, const OperationRecord& op);
  static absl::StatusOr<bool> FinishOperation(Connection* c, const OperationRecord& op,
                                              std::optional<absl::Time> expired_at);
  static absl::StatusOr<std::optional<OperationRecord>> ClaimOperation(Connection* c,
                                                                       const std::string& owner,
                                                                       absl::Time until);
  static absl::StatusOr<std::optional<OperationRecord>> FindClaimed(Connection* c,
                                                                    const std::string& owner,
                                                                    absl::Time until);
  static absl::StatusOr<bool> ReleaseOperation(Connection* c, const std::string& id,
                                               const std::string& owner);
  static absl::Status RequestCancel(Connection* c, const std::string& id);
  static absl::StatusOr<bool> TryLease(Connection* c, const std::string& name,
                                       const std::string& owner, absl::Time now, absl::Time until);
  static absl::Status ReleaseLease(Connection* c, const std::string& name,
                                   const std::string& owner);
  static absl::Status ReleaseLeases(Connection* c, const std::string& prefix,
                                    const std::string& owner);
};

}  // namespace mdb::catalog::sqlite
