// Operations and leases in the SQLite catalog. One instance uses an SQLite catalog (its lock
// file says so), but the rows carry the same owner and lease as PostgreSQL's so that the runner
// has one protocol (docs/deployment.md) whatever the catalog.
#include "absl/strings/str_cat.h"
#include "catalog/sqlite_conn.h"
#include "common/time_util.h"

namespace mdb::catalog::sqlite {
namespace {

int64_t Nanos(absl::Time t) { return absl::ToUnixNanos(t); }

// Columns: folder_id, body, owner, lease_ns, cancel, request, cluster_id.
constexpr char kColumns[] = "folder_id, body, owner, lease_ns, cancel, request, cluster_id";

// Reads kColumns starting at column `first`.
absl::Status ReadRow(sqlite3_stmt* s, OperationRecord* r, int first = 0) {
  auto text = [&](int i) {
    return reinterpret_cast<const char*>(sqlite3_column_text(s, first + i));
  };
  r->folder_id = text(0);
  if (!ParseColumn(s, first + 1, &r->operation)) {
    return absl::DataLossError("catalog: an operation record is corrupt");
  }
  r->owner = text(2);
  r->lease_until = absl::FromUnixNanos(sqlite3_column_int64(s, first + 3));
  r->cancel_requested = sqlite3_column_int(s, first + 4) != 0;
  r->request = ColumnBlob(s, first + 5);
  r->cluster_id = text(6);
  return absl::OkStatus();
}

// Runs `sql` (?1 the owner, ?2 the lease's end), which yields at most one operation row.
absl::StatusOr<std::optional<OperationRecord>> OwnedRow(Connection* c, const std::string& sql,
                                                        const std::string& owner, absl::Time until,
                                                        const char* what) {
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(sql));
  BindText(s, 1, owner);
  sqlite3_bind_int64(s, 2, Nanos(until));
  int rc = sqlite3_step(s);
  std::optional<OperationRecord> out;
  if (rc == SQLITE_ROW) {
    RETURN_IF_ERROR(ReadRow(s, &out.emplace()));
    rc = sqlite3_step(s);
  }
  if (rc != SQLITE_DONE) return SqliteError(c->db(), what);
  return out;
}

}  // namespace

absl::Status Ops::PutOperation(Connection* c, const OperationRecord& r) {
  static const char* kSql =
      "INSERT INTO operations(id, folder_id, done, created_ns, body, owner, lease_ns, request, "
      "cluster_id, seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
      "(SELECT coalesce(max(seq), 0) + 1 FROM operations)) ON CONFLICT(id) DO UPDATE SET "
      "folder_id=?2, "
      "done=?3, body=?5, owner=?6, lease_ns=?7, request=?8 "
      "WHERE operations.owner = ?6 AND operations.done = 0";
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  BindText(s, 1, r.operation.id());
  BindText(s, 2, r.folder_id);
  sqlite3_bind_int(s, 3, r.operation.done() ? 1 : 0);
  sqlite3_bind_int64(s, 4, common::ToUnixNanos(r.operation.created_at()));
  BindBlob(s, 5, r.operation.SerializeAsString());
  BindText(s, 6, r.owner);
  sqlite3_bind_int64(s, 7, Nanos(r.lease_until));
  BindBlob(s, 8, r.request);
  BindText(s, 9, r.cluster_id);
  if (sqlite3_step(s) != SQLITE_DONE) return SqliteError(c->db(), "put operation");
  return absl::OkStatus();
}

absl::StatusOr<OperationRecord> Ops::GetOperation(Connection* c, const std::string& id) {
  static const std::string kSql =
      absl::StrCat("SELECT ", kColumns, " FROM operations WHERE id = ?1");
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  BindText(s, 1, id);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("operation '", id, "' not found"));
  if (rc != SQLITE_ROW) return SqliteError(c->db(), "get operation");
  OperationRecord out;
  RETURN_IF_ERROR(ReadRow(s, &out));
  return out;
}

absl::Status Ops::ListUnfinishedOperations(Connection* c, std::vector<OperationRecord>* out) {
  static const std::string kSql =
      absl::StrCat("SELECT ", kColumns, " FROM operations WHERE done = 0 ORDER BY created_ns");
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) RETURN_IF_ERROR(ReadRow(s, &out->emplace_back()));
  if (rc != SQLITE_DONE) return SqliteError(c->db(), "list operations");
  return absl::OkStatus();
}

absl::Status Ops::ListClusterOperations(Connection* c, const std::string& cluster_id,
                                        PageCursor after, int limit,
                                        std::vector<std::pair<PageCursor, OperationRecord>>* out) {
  // `seq` is the insertion order (an upsert keeps it): the tie-break of equal times.
  static const std::string kSql =
      absl::StrCat("SELECT seq, created_ns, ", kColumns,
                   " FROM operations WHERE cluster_id = ?1 AND (created_ns, seq) < (?2, ?3) "
                   "ORDER BY created_ns DESC, seq DESC LIMIT ?4");
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  BindText(s, 1, cluster_id);
  sqlite3_bind_int64(s, 2, after.created_ns);
  sqlite3_bind_int64(s, 3, after.seq);
  sqlite3_bind_int(s, 4, limit);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    auto& [cursor, record] = out->emplace_back();
    cursor = {.created_ns = sqlite3_column_int64(s, 1), .seq = sqlite3_column_int64(s, 0)};
    RETURN_IF_ERROR(ReadRow(s, &record, 2));
  }
  if (rc != SQLITE_DONE) return SqliteError(c->db(), "list cluster operations");
  return absl::OkStatus();
}

absl::StatusOr<OperationLease> Ops::RenewOperation(Connection* c, const OperationRecord& op) {
  static const char* kSql =
      "UPDATE operations SET body = ?3, lease_ns = ?4 WHERE id = ?1 AND owner = ?2 AND done = 0 "
      "RETURNING cancel";
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  BindText(s, 1, op.operation.id());
  BindText(s, 2, op.owner);
  BindBlob(s, 3, op.operation.SerializeAsString());
  sqlite3_bind_int64(s, 4, Nanos(op.lease_until));
  int rc = sqlite3_step(s);
  OperationLease lease;
  if (rc == SQLITE_ROW) {
    lease = {.held = true, .cancel_requested = sqlite3_column_int(s, 0) != 0};
    rc = sqlite3_step(s);
  }
  if (rc != SQLITE_DONE) return SqliteError(c->db(), "renew operation");
  return lease;
}

absl::StatusOr<bool> Ops::FinishOperation(Connection* c, const OperationRecord& op,
                                          std::optional<absl::Time> expired_at) {
  static const char* kSql =
      "UPDATE operations SET done = 1, body = ?3 WHERE id = ?1 AND owner = ?2 AND done = 0 AND "
      "(?4 IS NULL OR lease_ns < ?4)";
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  BindText(s, 1, op.operation.id());
  BindText(s, 2, op.owner);
  BindBlob(s, 3, op.operation.SerializeAsString());
  if (expired_at) sqlite3_bind_int64(s, 4, Nanos(*expired_at));  // else NULL
  if (sqlite3_step(s) != SQLITE_DONE) return SqliteError(c->db(), "finish operation");
  return sqlite3_changes(c->db()) == 1;
}

absl::StatusOr<std::optional<OperationRecord>> Ops::ClaimOperation(Connection* c,
                                                                   const std::string& owner,
                                                                   absl::Time until) {
  // One statement, and SQLite has one writer at a time: no two claims get the same row.
  static const std::string kSql = absl::StrCat(
      "UPDATE operations SET owner = ?1, lease_ns = ?2 WHERE id = (SELECT id FROM operations "
      "WHERE done = 0 AND owner = '' AND request != x'' ORDER BY created_ns LIMIT 1) RETURNING ",
      kColumns);
  return OwnedRow(c, kSql, owner, until, "claim operation");
}

absl::StatusOr<std::optional<OperationRecord>> Ops::FindClaimed(Connection* c,
                                                                const std::string& owner,
                                                                absl::Time until) {
  static const std::string kSql =
      absl::StrCat("SELECT ", kColumns,
                   " FROM operations WHERE owner = ?1 AND lease_ns = ?2 AND done = 0 LIMIT 1");
  return OwnedRow(c, kSql, owner, until, "find claimed operation");
}

absl::StatusOr<bool> Ops::ReleaseOperation(Connection* c, const std::string& id,
                                           const std::string& owner) {
  static const char* kSql =
      "UPDATE operations SET owner = '', lease_ns = ?3 WHERE id = ?1 AND owner = ?2 AND "
      "done = 0 AND request != x''";
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  BindText(s, 1, id);
  BindText(s, 2, owner);
  sqlite3_bind_int64(s, 3, Nanos(absl::InfiniteFuture()));
  if (sqlite3_step(s) != SQLITE_DONE) return SqliteError(c->db(), "release operation");
  return sqlite3_changes(c->db()) == 1;
}

absl::Status Ops::RequestCancel(Connection* c, const std::string& id) {
  static const char* kSql = "UPDATE operations SET cancel = 1 WHERE id = ?1 AND done = 0";
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  BindText(s, 1, id);
  if (sqlite3_step(s) != SQLITE_DONE) return SqliteError(c->db(), "cancel operation");
  if (sqlite3_changes(c->db()) == 1) return absl::OkStatus();
  ASSIGN_OR_RETURN(OperationRecord r, GetOperation(c, id));  // NotFound, or done already
  return absl::FailedPreconditionError(
      absl::StrCat("operation '", r.operation.id(), "' is done already"));
}

absl::StatusOr<bool> Ops::TryLease(Connection* c, const std::string& name, const std::string& owner,
                                   absl::Time now, absl::Time until) {
  // One statement: a free name is inserted; a held one changes hands only when its lease ended
  // (or is renewed by its owner). SQLite serializes writers, PostgreSQL's row lock does the same.
  static const char* kSql =
      "INSERT INTO leases(name, owner, until_ns) VALUES(?1, ?2, ?4) ON CONFLICT(name) DO UPDATE "
      "SET owner = excluded.owner, until_ns = excluded.until_ns "
      "WHERE leases.owner = excluded.owner OR leases.until_ns < ?3";
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  BindText(s, 1, name);
  BindText(s, 2, owner);
  sqlite3_bind_int64(s, 3, Nanos(now));
  sqlite3_bind_int64(s, 4, Nanos(until));
  if (sqlite3_step(s) != SQLITE_DONE) return SqliteError(c->db(), "take lease");
  return sqlite3_changes(c->db()) == 1;
}

absl::Status Ops::ReleaseLease(Connection* c, const std::string& name, const std::string& owner) {
  static const char* kSql = "DELETE FROM leases WHERE name = ?1 AND owner = ?2";
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  BindText(s, 1, name);
  BindText(s, 2, owner);
  if (sqlite3_step(s) != SQLITE_DONE) return SqliteError(c->db(), "release lease");
  return absl::OkStatus();
}

absl::Status Ops::ReleaseLeases(Connection* c, const std::string& prefix,
                                const std::string& owner) {
  // substr(), not LIKE: a prefix is matched as written, '%' and '_' included.
  static const char* kSql =
      "DELETE FROM leases WHERE owner = ?2 AND substr(name, 1, length(?1)) = ?1";
  ASSIGN_OR_RETURN(sqlite3_stmt * s, c->Prepare(kSql));
  BindText(s, 1, prefix);
  BindText(s, 2, owner);
  if (sqlite3_step(s) != SQLITE_DONE) return SqliteError(c->db(), "release leases");
  return absl::OkStatus();
}

}  // namespace mdb::catalog::sqlite
