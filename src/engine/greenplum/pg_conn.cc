// Keyword/value arrays rather than a conninfo string: no quoting of user-supplied values needed.
#include "engine/greenplum/pg_conn.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/host_options.h"
#include "common/log.h"
#include "common/status.h"

namespace mdb::engine::greenplum {
namespace {

struct PgResultClear {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultClear>;

}  // namespace

absl::StatusOr<PgConn> PgConnect(const common::HostConfig& host, bool replication,
                                 const std::atomic<bool>* cancelled) {
  size_t colon = host.address.rfind(':');
  std::string h = host.address.substr(0, colon), port = host.address.substr(colon + 1);
  std::string user = common::HostOption(host, "user", "postgres"),
              dbname = common::HostOption(host, "dbname", "postgres");
  ASSIGN_OR_RETURN(std::string password, common::HostPassword(host));
  std::vector<const char*> keys{
      "host", "port", "user", "dbname", "connect_timeout", "application_name"};
  std::vector<std::string> vals{h, port, user, dbname, "30", "mdb-backup"};
  if (!password.empty()) keys.push_back("password"), vals.push_back(password);
  if (replication) keys.push_back("replication"), vals.push_back("true");
  // Greenplum segments answer for themselves only in utility mode (segments.h sets it).
  if (std::string o = common::HostOption(host, "pg_options"); !o.empty()) {
    keys.push_back("options"), vals.push_back(o);
  }
  std::vector<const char*> v;
  for (const auto& s : vals) v.push_back(s.c_str());
  keys.push_back(nullptr);
  v.push_back(nullptr);
  // Asynchronously, so that a cancel is seen while the server keeps the handshake waiting.
  PgConn conn(PQconnectStartParams(keys.data(), v.data(), 0));
  if (!conn || PQstatus(conn.get()) == CONNECTION_BAD) {
    return absl::UnavailableError(absl::StrCat("postgres ", host.address, ": ",
                                               conn ? PgError(conn.get()) : "out of memory"));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (PostgresPollingStatusType st = PGRES_POLLING_WRITING; st != PGRES_POLLING_OK;) {
    if (st == PGRES_POLLING_FAILED) {
      return absl::UnavailableError(
          absl::StrCat("postgres ", host.address, ": ", PgError(conn.get())));
    }
    absl::Status waited = PgWait(conn.get(), st == PGRES_POLLING_WRITING, cancelled, deadline);
    if (absl::IsCancelled(waited)) {
      return absl::CancelledError(
          absl::StrCat("cancelled while connecting to postgres ", host.address));
    }
    if (!waited.ok()) {
      return common::WithContext(waited, absl::StrCat("postgres ", host.address));
    }
    st = PQconnectPoll(conn.get());
  }
  // Notices (pg_switch_wal's, a source's WARNINGs) into the service's log, not raw to stderr.
  PQsetNoticeProcessor(
      conn.get(),
      [](void*, const char* message) { common::LogPostgresNotice("greenplum", message); }, nullptr);
  return conn;
}

std::string PgError(const PGconn* conn) {
  return std::string(absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn)));
}

absl::Status PgWait(PGconn* conn, bool write, const std::atomic<bool>* cancelled,
                    absl::Time deadline) {
  for (;;) {
    if (cancelled && cancelled->load()) {
      return absl::CancelledError("cancelled while waiting for the server");
    }
    pollfd p{
        .fd = PQsocket(conn), .events = static_cast<short>(write ? POLLOUT : POLLIN), .revents = 0};
    int rc = poll(&p, 1, 200);
    if (rc > 0) return absl::OkStatus();
    if (rc < 0 && errno != EINTR) return absl::UnavailableError(strerror(errno));
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("the server did not answer in time");
    }
  }
}

absl::Status PgAwaitResult(PGconn* conn, const std::atomic<bool>* cancelled) {
  while (PQisBusy(conn)) {
    absl::Status st = PgWait(conn, /*write=*/false, cancelled);
    if (!st.ok()) return st;
    if (!PQconsumeInput(conn)) return absl::UnavailableError(PgError(conn));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> PgRows::Field(size_t row, size_t col, absl::string_view what) const {
  if (row >= rows.size() || col >= rows[row].size()) {
    return absl::DataLossError(absl::StrCat("the server's reply to ", what, " has ", rows.size(),
                                            " rows of ", rows.empty() ? 0 : rows[0].size(),
                                            " columns; expected field ", col + 1, " of row ",
                                            row + 1));
  }
  if (!rows[row][col]) {
    return absl::DataLossError(
        absl::StrCat("the server's reply to ", what, " has NULL in field ", col + 1));
  }
  return *rows[row][col];
}

absl::StatusOr<Lsn> PgRows::LsnField(size_t row, size_t col, absl::string_view what) const {
  ASSIGN_OR_RETURN(std::string text, Field(row, col, what));
  std::optional<Lsn> lsn = ParseLsn(text);
  if (!lsn) {
    return absl::DataLossError(absl::StrCat("the server's reply to ", what, " has '",
                                            text.substr(0, 40), "' where a WAL position belongs"));
  }
  return *lsn;
}

absl::StatusOr<std::string> PgRows::SystemIdField(size_t row, size_t col,
                                                  absl::string_view what) const {
  ASSIGN_OR_RETURN(std::string text, Field(row, col, what));
  uint64_t id = 0;
  if (!absl::SimpleAtoi(text, &id)) {
    return absl::DataLossError(absl::StrCat("the server's reply to ", what, " has '",
                                            text.substr(0, 40), "' where a system id belongs"));
  }
  return absl::StrCat(id);
}

absl::StatusOr<uint32_t> PgRows::TimelineField(size_t row, size_t col,
                                               absl::string_view what) const {
  ASSIGN_OR_RETURN(std::string text, Field(row, col, what));
  uint32_t timeline = 0;
  if (!absl::SimpleAtoi(text, &timeline) || timeline == 0) {
    return absl::DataLossError(absl::StrCat("the server's reply to ", what, " has '",
                                            text.substr(0, 40), "' where a timeline belongs"));
  }
  return timeline;
}

absl::Status PgSend(PGconn* conn, const std::string& sql) {
  if (!PQsendQuery(conn, sql.c_str())) return absl::UnavailableError(PgError(conn));
  PQsetSingleRowMode(conn);  // may refuse (nothing to do then): results stay bounded below
  return absl::OkStatus();
}

absl::StatusOr<std::optional<PgRows>> PgNextResult(PGconn* conn,
                                                   const std::atomic<bool>* cancelled) {
  PgRows out;
  size_t bytes = 0;
  for (;;) {
    RETURN_IF_ERROR(PgAwaitResult(conn, cancelled));
    PgResult r(PQgetResult(conn));
    if (!r.get()) {
      if (out.status == PGRES_EMPTY_QUERY) return std::nullopt;
      return out;  // (not reached with libpq's single-row mode, which ends with TUPLES_OK)
    }
    ExecStatusType status = PQresultStatus(r.get());
    int n = PQntuples(r.get()), fields = PQnfields(r.get());
    if (out.rows.size() + n > kPgMaxRows) {
      return absl::DataLossError(absl::StrCat("the server sent more than ", kPgMaxRows,
                                              " rows in one reply (a broken or hostile server)"));
    }
    for (int i = 0; i < n; ++i) {
      auto& row = out.rows.emplace_back();
      for (int j = 0; j < fields; ++j) {
        if (PQgetisnull(r.get(), i, j)) {
          row.emplace_back();
        } else {
          bytes += PQgetlength(r.get(), i, j);
          if (bytes > kPgMaxResultBytes) {
            return absl::DataLossError(
                absl::StrCat("the server sent more than ", kPgMaxResultBytes,
                             " bytes of fields in one reply (a broken or hostile server)"));
          }
          row.emplace_back(std::string(PQgetvalue(r.get(), i, j), PQgetlength(r.get(), i, j)));
        }
      }
    }
    out.status = status;
    if (const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE)) out.sqlstate = code;
    if (status != PGRES_SINGLE_TUPLE) return out;  // the end of this result (or a COPY, an error)
  }
}

absl::StatusOr<PgRows> PgExec(PGconn* conn, const std::string& sql,
                              const std::atomic<bool>* cancelled) {
  RETURN_IF_ERROR(PgSend(conn, sql));
  PgRows last;
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<PgRows> r, PgNextResult(conn, cancelled));
    if (!r) return last;
    last = std::move(*r);
    if (last.status == PGRES_COPY_OUT || last.status == PGRES_COPY_BOTH ||
        last.status == PGRES_COPY_IN) {
      return last;
    }
  }
}

absl::StatusOr<PgRows> PgQuery(PGconn* conn, const std::string& sql, absl::StatusCode code,
                               absl::string_view where, const std::atomic<bool>* cancelled) {
  ASSIGN_OR_RETURN(PgRows rows, PgExec(conn, sql, cancelled));
  if (rows.status != PGRES_TUPLES_OK) return absl::Status(code, absl::StrCat(where, PgError(conn)));
  return rows;
}

absl::StatusOr<std::optional<std::string>> PgSuperuserSchema(PGconn* conn, PgObject kind,
                                                             absl::string_view name,
                                                             absl::string_view where,
                                                             const std::atomic<bool>* cancelled) {
  const bool function = kind == PgObject::kFunction;
  const absl::string_view table = function ? "pg_proc" : "pg_class";
  const absl::string_view col = function ? "pro" : "rel";  // pg_proc.pronamespace, ...
  const std::string sql = absl::StrCat(
      "SELECT quote_ident(n.nspname) FROM pg_catalog.", table,
      " o JOIN pg_catalog.pg_namespace n ON n.oid = o.", col, "namespace",
      " JOIN pg_catalog.pg_roles r ON r.oid = o.", col, "owner WHERE o.", col, "name = '", name,
      "' AND r.rolsuper ORDER BY n.nspname <> 'pg_catalog', n.nspname LIMIT 1");
  ASSIGN_OR_RETURN(PgRows r,
                   PgQuery(conn, sql, absl::StatusCode::kFailedPrecondition, where, cancelled));
  if (r.rows.empty()) return std::nullopt;
  ASSIGN_OR_RETURN(std::string schema, r.Field(0, 0, table));
  return std::optional(std::move(schema));
}

}  // namespace mdb::engine::greenplum
