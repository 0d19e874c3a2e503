// Operations and leases in the PostgreSQL catalog: what several instances on one catalog
// coordinate through (docs/deployment.md). Each is one statement, so no transaction spans a
// round trip, and a row's lock orders concurrent writers: a renewal and a takeover of the same
// operation never both succeed.
#include "absl/strings/str_cat.h"
#include "catalog/postgres_conn.h"
#include "common/time_util.h"

namespace mdb::catalog::postgres {
namespace {

int64_t Nanos(absl::Time t) { return absl::ToUnixNanos(t); }

// Columns: folder_id, body, owner, lease_ns, cancel, request, cluster_id.
constexpr char kColumns[] = "folder_id, body, owner, lease_ns, cancel, request, cluster_id";

// Reads kColumns starting at column `first`.
absl::Status ReadRow(const PGresult* r, int row, OperationRecord* out, int first = 0) {
  out->folder_id = Field(r, row, first);
  if (!ParseField(r, row, first + 1, &out->operation)) {
    return absl::DataLossError("catalog: an operation record is corrupt");
  }
  out->owner = Field(r, row, first + 2);
  out->lease_until = absl::FromUnixNanos(BigEndian64(PQgetvalue(r, row, first + 3)));
  out->cancel_requested = PQgetvalue(r, row, first + 4)[0] != 0;
  out->request = Field(r, row, first + 5);
  out->cluster_id = Field(r, row, first + 6);
  return absl::OkStatus();
}

// PQcmdTuples takes a non-const result but only reads it.
bool OneRowChanged(PGresult* r) { return std::string(PQcmdTuples(r)) == "1"; }

}  // namespace

absl::Status Ops::PutOperation(Connection* c, const OperationRecord& r) {
  static const char* kSql =
      "INSERT INTO mdb_operations(id, folder_id, done, created_ns, body, owner, lease_ns, "
      "request, cluster_id) VALUES($1, $2, $3::bool, $4::int8, $5::bytea, $6, $7::int8, "
      "$8::bytea, $9) "
      "ON CONFLICT(id) DO UPDATE SET folder_id = $2, done = $3::bool, body = $5::bytea, "
      "owner = $6, lease_ns = $7::int8, request = $8::bytea "
      "WHERE mdb_operations.owner = $6 AND NOT mdb_operations.done";
  return c
      ->Run(kSql,
            std::move(Params()
                          .Text(r.operation.id())
                          .Text(r.folder_id)
                          .Bool(r.operation.done())
                          .Int64(common::ToUnixNanos(r.operation.created_at()))
                          .Bytes(r.operation.SerializeAsString())
                          .Text(r.owner)
                          .Int64(Nanos(r.lease_until))
                          .Bytes(r.request)
                          .Text(r.cluster_id)),
            "put operation")
      .status();
}

absl::StatusOr<OperationRecord> Ops::GetOperation(Connection* c, const std::string& id) {
  static const std::string kSql =
      absl::StrCat("SELECT ", kColumns, " FROM mdb_operations WHERE id = $1");
  ASSIGN_OR_RETURN(ResultPtr r,
                   c->Run(kSql.c_str(), std::move(Params().Text(id)), "get operation"));
  if (PQntuples(r.get()) == 0) {
    return absl::NotFoundError(absl::StrCat("operation '", id, "' not found"));
  }
  OperationRecord out;
  RETURN_IF_ERROR(ReadRow(r.get(), 0, &out));
  return out;
}

absl::Status Ops::ListUnfinishedOperations(Connection* c, std::vector<OperationRecord>* out) {
  static const std::string kSql = absl::StrCat("SELECT ", kColumns,
                                               " FROM mdb_operations WHERE NOT done "
                                               "ORDER BY created_ns");
  ASSIGN_OR_RETURN(ResultPtr r, c->Run(kSql.c_str(), {}, "list operations"));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    RETURN_IF_ERROR(ReadRow(r.get(), i, &out->emplace_back()));
  }
  return absl::OkStatus();
}

absl::Status Ops::ListClusterOperations(Connection* c, const std::string& cluster_id,
                                        PageCursor after, int limit,
                                        std::vector<std::pair<PageCursor, OperationRecord>>* out) {
  static const std::string kSql = absl::StrCat(
      "SELECT seq, created_ns, ", kColumns,
      " FROM mdb_operations WHERE cluster_id = $1 AND (created_ns, seq) < ($2::int8, $3::int8) "
      "ORDER BY created_ns DESC, seq DESC LIMIT $4::int8");
  ASSIGN_OR_RETURN(
      ResultPtr r,
      c->Run(kSql.c_str(),
             std::move(
                 Params().Text(cluster_id).Int64(after.created_ns).Int64(after.seq).Int64(limit)),
             "list cluster operations"));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    auto& [cursor, record] = out->emplace_back();
    cursor = {.created_ns = BigEndian64(PQgetvalue(r.get(), i, 1)),
              .seq = BigEndian64(PQgetvalue(r.get(), i, 0))};
    RETURN_IF_ERROR(ReadRow(r.get(), i, &record, 2));
  }
  return absl::OkStatus();
}

absl::StatusOr<OperationLease> Ops::RenewOperation(Connection* c, const OperationRecord& op) {
  static const char* kSql =
      "UPDATE mdb_operations SET body = $3::bytea, lease_ns = $4::int8 "
      "WHERE id = $1 AND owner = $2 AND NOT done RETURNING cancel";
  ASSIGN_OR_RETURN(ResultPtr r, c->Run(kSql,
                                       std::move(Params()
                                                     .Text(op.operation.id())
                                                     .Text(op.owner)
                                                     .Bytes(op.operation.SerializeAsString())
                                                     .Int64(Nanos(op.lease_until))),
                                       "renew operation"));
  if (PQntuples(r.get()) == 0) return OperationLease{};
  return OperationLease{.held = true, .cancel_requested = PQgetvalue(r.get(), 0, 0)[0] != 0};
}

absl::StatusOr<bool> Ops::FinishOperation(Connection* c, const OperationRecord& op,
                                          std::optional<absl::Time> expired_at) {
  static const char* kSql =
      "UPDATE mdb_operations SET done = true, body = $3::bytea "
      "WHERE id = $1 AND owner = $2 AND NOT done AND ($4::int8 IS NULL OR lease_ns < $4::int8)";
  Params params;
  params.Text(op.operation.id()).Text(op.owner).Bytes(op.operation.SerializeAsString());
  if (expired_at) {
    params.Int64(Nanos(*expired_at));
  } else {
    params.Null();
  }
  ASSIGN_OR_RETURN(ResultPtr r, c->Run(kSql, std::move(params), "finish operation"));
  return OneRowChanged(r.get());
}

absl::StatusOr<std::optional<OperationRecord>> Ops::ClaimOperation(Connection* c,
                                                                   const std::string& owner,
                                                                   absl::Time until) {
  // SKIP LOCKED: instances claiming at once each take a different row rather than queue on
  // the oldest; the outer owner = '' re-checks the row once locked.
  static const std::string kSql = absl::StrCat(
      "UPDATE mdb_operations SET owner = $1, lease_ns = $2::int8 WHERE id = (SELECT id FROM "
      "mdb_operations WHERE NOT done AND owner = '' AND request <> ''::bytea ORDER BY created_ns "
      "LIMIT 1 "
      "FOR UPDATE SKIP LOCKED) AND owner = '' RETURNING ",
      kColumns);
  ASSIGN_OR_RETURN(
      ResultPtr r,
      c->Run(kSql.c_str(), std::move(Params().Text(owner).Int64(Nanos(until))), "claim operation"));
  std::optional<OperationRecord> out;
  if (PQntuples(r.get()) > 0) RETURN_IF_ERROR(ReadRow(r.get(), 0, &out.emplace()));
  return out;
}

absl::StatusOr<std::optional<OperationRecord>> Ops::FindClaimed(Connection* c,
                                                                const std::string& owner,
                                                                absl::Time until) {
  static const std::string kSql = absl::StrCat(
      "SELECT ", kColumns,
      " FROM mdb_operations WHERE owner = $1 AND lease_ns = $2::int8 AND NOT done LIMIT 1");
  ASSIGN_OR_RETURN(ResultPtr r,
                   c->Run(kSql.c_str(), std::move(Params().Text(owner).Int64(Nanos(until))),
                          "find claimed operation"));
  std::optional<OperationRecord> out;
  if (PQntuples(r.get()) > 0) RETURN_IF_ERROR(ReadRow(r.get(), 0, &out.emplace()));
  return out;
}

absl::StatusOr<bool> Ops::ReleaseOperation(Connection* c, const std::string& id,
                                           const std::string& owner) {
  ASSIGN_OR_RETURN(
      ResultPtr r,
      c->Run("UPDATE mdb_operations SET owner = '', lease_ns = $3::int8 WHERE id = $1 AND "
             "owner = $2 AND NOT done AND request <> ''::bytea",
             std::move(Params().Text(id).Text(owner).Int64(Nanos(absl::InfiniteFuture()))),
             "release operation"));
  return OneRowChanged(r.get());
}

absl::Status Ops::RequestCancel(Connection* c, const std::string& id) {
  ASSIGN_OR_RETURN(ResultPtr r,
                   c->Run("UPDATE mdb_operations SET cancel = true WHERE id = $1 AND NOT done",
                          std::move(Params().Text(id)), "cancel operation"));
  if (OneRowChanged(r.get())) return absl::OkStatus();
  ASSIGN_OR_RETURN(OperationRecord rec, GetOperation(c, id));  // NotFound, or done already
  return absl::FailedPreconditionError(
      absl::StrCat("operation '", rec.operation.id(), "' is done already"));
}

absl::StatusOr<bool> Ops::TryLease(Connection* c, const std::string& name, const std::string& owner,
                                   absl::Time now, absl::Time until) {
  // Two instances inserting one free name: one inserts, the other waits on the row and then
  // finds it held (the WHERE fails): exactly one holder.
  static const char* kSql =
      "INSERT INTO mdb_leases(name, owner, until_ns) VALUES($1, $2, $4::int8) "
      "ON CONFLICT(name) DO UPDATE SET owner = EXCLUDED.owner, until_ns = EXCLUDED.until_ns "
      "WHERE mdb_leases.owner = EXCLUDED.owner OR mdb_leases.until_ns < $3::int8";
  ASSIGN_OR_RETURN(
      ResultPtr r,
      c->Run(kSql, std::move(Params().Text(name).Text(owner).Int64(Nanos(now)).Int64(Nanos(until))),
             "take lease"));
  return OneRowChanged(r.get());
}

absl::Status Ops::ReleaseLease(Connection* c, const std::string& name, const std::string& owner) {
  return c
      ->Run("DELETE FROM mdb_leases WHERE name = $1 AND owner = $2",
            std::move(Params().Text(name).Text(owner)), "release lease")
      .status();
}

absl::Status Ops::ReleaseLeases(Connection* c, const std::string& prefix,
                                const std::string& owner) {
  // left(), not LIKE: a prefix is matched as written, '%' and '_' included.
  return c
      ->Run("DELETE FROM mdb_leases WHERE owner = $2 AND left(name, length($1)) = $1",
            std::move(Params().Text(prefix).Text(owner)), "release leases")
      .status();
}

}  // namespace mdb::catalog::postgres
