// libpq connections to configured PostgreSQL hosts, with RAII handles.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace mdb::engine::greenplum {

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;

class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  ~PgResult() { PQclear(r_); }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

// Connects to `host` ("host:port" plus options user, password, password_file, dbname); with
// `replication`, as a physical replication client (for BASE_BACKUP). Every wait below checks
// `cancelled` (when given) about 5 times a second: a server that accepts connections but never
// answers holds an operation only until it is cancelled (or 30 s for the connection itself).
absl::StatusOr<PgConn> PgConnect(const common::HostConfig& host, bool replication,
                                 const std::atomic<bool>* cancelled = nullptr);

// Until the connection's socket is readable (and read into libpq) or writable.
absl::Status PgWait(PGconn* conn, bool write, const std::atomic<bool>* cancelled,
                    absl::Time deadline = absl::InfiniteFuture());

// Until PQgetResult would return without blocking.
absl::Status PgAwaitResult(PGconn* conn, const std::atomic<bool>* cancelled);

// PQexec that cancelling interrupts: the last result of `sql` (a COPY result as soon as it comes).
absl::StatusOr<PgResult> PgExec(PGconn* conn, const std::string& sql,
                                const std::atomic<bool>* cancelled);

}  // namespace mdb::engine::greenplum
