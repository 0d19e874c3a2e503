// The PostgreSQL catalog's connection and parameter helpers, shared by its files (internal to
// catalog/: postgres_catalog.cc for backups, postgres_operations.cc for operations and leases).
#pragma once

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catalog/catalog.h"
#include "catalog/page_token.h"
#include "common/log.h"
#include "common/status.h"

namespace mdb::catalog::postgres {

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

// The canonical code of a failed statement, by SQLSTATE class: what a client may retry
// (connection, resources, serialization), what is damage, and what is a bug of ours.
inline absl::Status PgStatus(PGconn* conn, const PGresult* r, const std::string& what) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string msg =
      absl::StrCat("catalog: ", what, ": ", r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (PQstatus(conn) != CONNECTION_OK || sqlstate.rfind("08", 0) == 0 ||
      sqlstate.rfind("53", 0) == 0 || sqlstate.rfind("57", 0) == 0 || sqlstate == "40001" ||
      sqlstate == "40P01") {
    // Connection lost, server out of disk/memory/connections, shutting down, or a conflict
    // between instances: the catalog is unavailable for now, the call may be retried.
    return absl::UnavailableError(msg);
  }
  if (sqlstate == "XX001" || sqlstate == "XX002") return absl::DataLossError(msg);
  if (sqlstate == "23505") return absl::AlreadyExistsError(msg);
  return absl::InternalError(msg);
}

inline int64_t BigEndian64(const char* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return static_cast<int64_t>(be64toh(v));
}

// Parameters of one statement, all in binary.
class Params {
 public:
  Params& Text(const std::string& v) { return Add(v); }
  Params& Bytes(const std::string& v) { return Add(v); }
  Params& Int64(int64_t v) {
    uint64_t be = htobe64(static_cast<uint64_t>(v));
    return Add(std::string(reinterpret_cast<const char*>(&be), 8));
  }
  Params& Int32(int32_t v) {
    uint32_t be = htonl(static_cast<uint32_t>(v));
    return Add(std::string(reinterpret_cast<const char*>(&be), 4));
  }
  Params& Bool(bool v) { return Add(std::string(1, v ? 1 : 0)); }
  Params& Null() {
    Add("");
    nulls_.resize(values_.size());
    nulls_.back() = true;
    return *this;
  }

  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() {
    ptrs_.clear();
    nulls_.resize(values_.size());
    for (size_t i = 0; i < values_.size(); ++i) {
      ptrs_.push_back(nulls_[i] ? nullptr : values_[i].data());
    }
    return ptrs_.data();
  }
  const int* lengths() {
    lengths_.clear();
    for (const auto& v : values_) lengths_.push_back(static_cast<int>(v.size()));
    return lengths_.data();
  }
  const int* formats() {
    formats_.assign(values_.size(), 1);
    return formats_.data();
  }

 private:
  Params& Add(std::string v) {
    values_.push_back(std::move(v));
    return *this;
  }
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
  std::vector<const char*> ptrs_;
  std::vector<int> lengths_, formats_;
};

class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& conninfo) {
    // application_name says who holds a connection (and the exclusive-use lock) in
    // pg_stat_activity; the operator's conninfo (expanded as dbname) may set its own.
    // Defaults the operator's conninfo may override (keywords before dbname yield to it): a
    // server that vanished without a FIN (a failover, a cut network) is noticed within about a
    // minute by keepalives and the TCP user timeout, not after the kernel's two hours; a
    // statement that hangs (a lock never released) ends after five minutes.
    std::string app = absl::StrCat("mdb-backup pid ", getpid());
    const char* keys[] = {"application_name",
                          "connect_timeout",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "options",
                          "dbname",
                          nullptr};
    const char* values[] = {
        app.c_str(),      "10",   "1", "30", "10", "3", "60000", "-c statement_timeout=300000",
        conninfo.c_str(), nullptr};
    auto c = std::unique_ptr<Connection>(new Connection(PQconnectdbParams(keys, values, 1)));
    if (!c->conn_ || PQstatus(c->conn_) != CONNECTION_OK) {
      std::string err = c->conn_ ? PQerrorMessage(c->conn_) : "out of memory";
      while (!err.empty() && err.back() == '\n') err.pop_back();
      return absl::UnavailableError(absl::StrCat("catalog: cannot connect to PostgreSQL: ", err));
    }
    // The server's notices went to stderr as libpq prints them, a line of their own amid the
    // service's log: logged as ours instead.
    PQsetNoticeProcessor(
        c->conn_, [](void*, const char* message) { common::LogPostgresNotice("catalog", message); },
        nullptr);
    return c;
  }
  ~Connection() { PQfinish(conn_); }

  // Runs `sql` with `params` (types inferred by the server), results in binary.
  absl::StatusOr<ResultPtr> Run(const char* sql, Params params, const std::string& what) {
    ResultPtr r(PQexecParams(conn_, sql, params.size(), nullptr, params.values(), params.lengths(),
                             params.formats(), 1),
                &PQclear);
    ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      healthy_ = PQstatus(conn_) == CONNECTION_OK;
      return PgStatus(conn_, r.get(), what);
    }
    return r;
  }
  // Several statements without parameters (migrations, BEGIN/COMMIT).
  absl::Status Exec(const char* sql, const std::string& what) {
    ResultPtr r(PQexec(conn_, sql), &PQclear);
    ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      healthy_ = PQstatus(conn_) == CONNECTION_OK;
      return PgStatus(conn_, r.get(), what);
    }
    return absl::OkStatus();
  }
  // False once the connection failed: it is not returned to the pool.
  bool healthy() const { return healthy_ && PQstatus(conn_) == CONNECTION_OK; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
  bool healthy_ = true;
};

inline std::string Field(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), PQgetlength(r, row, col));
}

template <typename M>
bool ParseField(const PGresult* r, int row, int col, M* out) {
  return out->ParseFromArray(PQgetvalue(r, row, col), PQgetlength(r, row, col));
}

// Operations and leases (postgres_operations.cc), each on a connection the catalog lends
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

}  // namespace mdb::catalog::postgres
