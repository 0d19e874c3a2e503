// Keyword/value arrays rather than a conninfo string: no quoting of user-supplied values needed.
#include "engine/greenplum/pg_conn.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace mdb::engine::greenplum {

absl::StatusOr<PgConn> PgConnect(const common::HostConfig& host, bool replication,
                                 const std::atomic<bool>* cancelled) {
  size_t colon = host.address.rfind(':');
  std::string h = host.address.substr(0, colon), port = host.address.substr(colon + 1);
  auto opt = [&](const char* k, const char* dflt) {
    auto it = host.options.find(k);
    return it == host.options.end() ? std::string(dflt) : it->second;
  };
  std::string user = opt("user", "postgres"), password = opt("password", ""),
              dbname = opt("dbname", "postgres");
  if (auto f = opt("password_file", ""); !f.empty()) {
    std::ifstream in(f);
    std::getline(in, password);
  }
  std::vector<const char*> keys{
      "host", "port", "user", "dbname", "connect_timeout", "application_name"};
  std::vector<std::string> vals{h, port, user, dbname, "30", "mdb-backup"};
  if (!password.empty()) keys.push_back("password"), vals.push_back(password);
  if (replication) keys.push_back("replication"), vals.push_back("true");
  std::vector<const char*> v;
  for (const auto& s : vals) v.push_back(s.c_str());
  keys.push_back(nullptr);
  v.push_back(nullptr);
  // Asynchronously, so that a cancel is seen while the server keeps the handshake waiting.
  PgConn conn(PQconnectStartParams(keys.data(), v.data(), 0));
  if (!conn || PQstatus(conn.get()) == CONNECTION_BAD) {
    return absl::UnavailableError(absl::StrCat(
        "postgres ", host.address, ": ", conn ? PQerrorMessage(conn.get()) : "out of memory"));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (PostgresPollingStatusType st = PGRES_POLLING_WRITING; st != PGRES_POLLING_OK;) {
    if (st == PGRES_POLLING_FAILED) {
      return absl::UnavailableError(
          absl::StrCat("postgres ", host.address, ": ", PQerrorMessage(conn.get())));
    }
    absl::Status waited = PgWait(conn.get(), st == PGRES_POLLING_WRITING, cancelled, deadline);
    if (absl::IsCancelled(waited)) {
      return absl::CancelledError(
          absl::StrCat("cancelled while connecting to postgres ", host.address));
    }
    if (!waited.ok()) {
      return absl::Status(waited.code(),
                          absl::StrCat("postgres ", host.address, ": ", waited.message()));
    }
    st = PQconnectPoll(conn.get());
  }
  return conn;
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
    if (!PQconsumeInput(conn)) return absl::UnavailableError(PQerrorMessage(conn));
  }
  return absl::OkStatus();
}

absl::StatusOr<PgResult> PgExec(PGconn* conn, const std::string& sql,
                                const std::atomic<bool>* cancelled) {
  if (!PQsendQuery(conn, sql.c_str())) return absl::UnavailableError(PQerrorMessage(conn));
  PgResult last(nullptr);
  for (;;) {
    absl::Status st = PgAwaitResult(conn, cancelled);
    if (!st.ok()) return st;
    PGresult* r = PQgetResult(conn);
    if (!r) return last;
    last = PgResult(r);
    ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH || status == PGRES_COPY_IN) {
      return last;
    }
  }
}

}  // namespace mdb::engine::greenplum
