// libpq connections to configured PostgreSQL hosts, and results read from them row by row.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "engine/greenplum/wal_names.h"

namespace mdb::engine::greenplum {

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;

// Connects to `host` ("host:port" plus options user, password, password_file, dbname,
// pg_options: libpq's `options`); with
// `replication`, as a physical replication client (for BASE_BACKUP). Every wait below checks
// `cancelled` (when given) about 5 times a second: a server that accepts connections but never
// answers holds an operation only until it is cancelled (or 30 s for the connection itself).
absl::StatusOr<PgConn> PgConnect(const common::HostConfig& host, bool replication,
                                 const std::atomic<bool>* cancelled = nullptr);

// libpq's message of the last error on `conn`, without its trailing newline.
std::string PgError(const PGconn* conn);

// Until the connection's socket is readable (or, with `write`, writable); reading is the
// caller's (PQconsumeInput).
absl::Status PgWait(PGconn* conn, bool write, const std::atomic<bool>* cancelled,
                    absl::Time deadline = absl::InfiniteFuture());

// Until PQgetResult would return without blocking.
absl::Status PgAwaitResult(PGconn* conn, const std::atomic<bool>* cancelled);

// One result of a command, copied out of libpq. A source is not trusted to send the rows and
// columns a command has: fields are read through Field(), which names what is missing instead of
// handing out libpq's null pointer for a field that is not there.
struct PgRows {
  ExecStatusType status = PGRES_EMPTY_QUERY;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt: SQL NULL
  std::string sqlstate;                                       // of a failed command

  // Field (row, col), non-NULL; `what` names the command in the error.
  absl::StatusOr<std::string> Field(size_t row, size_t col, absl::string_view what) const;
  // The same field as a WAL position ("16/B374D848"), which it must parse as.
  absl::StatusOr<Lsn> LsnField(size_t row, size_t col, absl::string_view what) const;
  // The same field as a system identifier (a 64-bit number, kept as its decimal text): it becomes
  // part of repository object names.
  absl::StatusOr<std::string> SystemIdField(size_t row, size_t col, absl::string_view what) const;
  // The same field as a timeline (a positive 32-bit number).
  absl::StatusOr<uint32_t> TimelineField(size_t row, size_t col, absl::string_view what) const;
};

// Rows past this in one result are a broken or hostile server (the commands the service sends
// return a row or a handful); libpq would otherwise collect an endless result in memory.
inline constexpr size_t kPgMaxRows = 10000;
// The same for the bytes of all fields of one result, copied out of libpq's buffer.
inline constexpr size_t kPgMaxResultBytes = 16 << 20;

// The next result of the command sent last (PQsendQuery followed by PQsetSingleRowMode, so that
// rows arrive one by one and are counted); nullopt when the command has no more results. A COPY
// result is returned as soon as it starts.
absl::StatusOr<std::optional<PgRows>> PgNextResult(PGconn* conn,
                                                   const std::atomic<bool>* cancelled);

// Sends `sql` in single-row mode (see PgNextResult).
absl::Status PgSend(PGconn* conn, const std::string& sql);

// PgSend, then the last result of `sql` (a COPY result as soon as it comes). Cancelling
// interrupts every wait. A failed command is a result with its status (PQerrorMessage has the
// server's message); only a lost connection, a cancel or a refused reply is an error.
absl::StatusOr<PgRows> PgExec(PGconn* conn, const std::string& sql,
                              const std::atomic<bool>* cancelled);

// PgExec of a query that must answer with rows: a server's error becomes `code` (callers choose:
// Unavailable where a retry may help, FailedPrecondition where the source must change first),
// its message prefixed with `where`.
absl::StatusOr<PgRows> PgQuery(PGconn* conn, const std::string& sql, absl::StatusCode code,
                               absl::string_view where, const std::atomic<bool>* cancelled);

// The quoted schema holding the relation or function `name` that a superuser owns, pg_catalog
// first; nullopt when there is none. The object is then called schema-qualified: one of that name
// that any role could create earlier on the search path would otherwise run as the service's role
// and answer what it likes. `name` is the caller's constant (it is spliced into SQL).
enum class PgObject { kRelation, kFunction };
absl::StatusOr<std::optional<std::string>> PgSuperuserSchema(PGconn* conn, PgObject kind,
                                                             absl::string_view name,
                                                             absl::string_view where,
                                                             const std::atomic<bool>* cancelled);

}  // namespace mdb::engine::greenplum
