// libpq connections to configured PostgreSQL hosts, with RAII handles.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
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
// `replication`, as a physical replication client (for BASE_BACKUP).
absl::StatusOr<PgConn> PgConnect(const common::HostConfig& host, bool replication);

}  // namespace mdb::engine::greenplum
