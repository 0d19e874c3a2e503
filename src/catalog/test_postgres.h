// For the catalog's unit tests: a real PostgreSQL 15 (Debian's binaries), started once per test
// binary on 127.0.0.1 at a free port in a fresh directory, as the postgres OS user when the tests
// run as root (initdb refuses root), and stopped at the end. MDB_TEST_PG_CONNINFO names an
// existing server to use instead (its user must be allowed to create databases).
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace mdb::catalog {

class TestPostgres : public ::testing::Environment {
 public:
  static TestPostgres* Get() {
    static TestPostgres* env =
        static_cast<TestPostgres*>(::testing::AddGlobalTestEnvironment(new TestPostgres));
    return env;
  }

  // The conninfo of a new, empty database on the server (started on first use).
  std::string NewDatabase() {
    if (admin_.empty()) Start();
    if (admin_.empty()) return "";
    std::string name = "mdb_test_" + std::to_string(getpid()) + "_" + std::to_string(++databases_);
    PGconn* c = PQconnectdb(admin_.c_str());
    PGresult* r = PQexec(c, ("CREATE DATABASE " + name).c_str());
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) ADD_FAILURE() << "CREATE DATABASE: " << PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    return ok ? admin_ + " dbname=" + name : "";
  }

  // Ends every server connection to the database of `conninfo` (as a failover or a server
  // restart would, seen from the client); returns how many.
  int TerminateConnections(const std::string& conninfo) {
    std::string db = conninfo.substr(conninfo.rfind("dbname=") + 7);
    PGconn* c = PQconnectdb(admin_.c_str());
    const char* params[] = {db.c_str()};
    PGresult* r = PQexecParams(c,
                               "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = $1 AND pid <> pg_backend_pid()",
                               1, nullptr, params, nullptr, nullptr, 0);
    int n = PQresultStatus(r) == PGRES_TUPLES_OK ? std::atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
  }

  void TearDown() override {
    if (!dir_.empty()) {
      Run(Bin("pg_ctl") + " -D " + dir_ + "/data -m immediate stop");
      std::filesystem::remove_all(dir_);
    }
  }

 private:
  static std::string Bin(const std::string& name) { return "/usr/lib/postgresql/15/bin/" + name; }
  // Runs `cmd` as the postgres user when root; output into the server's log.
  int Run(const std::string& cmd) {
    std::string full =
        (geteuid() == 0 ? "runuser -u postgres -- " : "") + cmd + " >>" + dir_ + "/setup.log 2>&1";
    return std::system(full.c_str());
  }
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
  }

  void Start() {
    if (const char* given = getenv("MDB_TEST_PG_CONNINFO"); given && *given) {
      admin_ = given;
      return;
    }
    if (!std::filesystem::exists(Bin("initdb"))) {
      ADD_FAILURE() << "PostgreSQL 15 is not installed (" << Bin("initdb")
                    << "): run scripts/setup.sh, or set MDB_TEST_PG_CONNINFO";
      return;
    }
    char tmpl[] = "/tmp/mdb-pgtest-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::filesystem::permissions(dir_, std::filesystem::perms::all);  // for the postgres user
    int port = FreePort();
    if (Run(Bin("initdb") + " -D " + dir_ + "/data -A trust -U postgres") != 0 ||
        Run(Bin("pg_ctl") + " -D " + dir_ + "/data -w -t 60 -l " + dir_ + "/server.log -o \"-p " +
            std::to_string(port) + " -k " + dir_ + " -c listen_addresses=127.0.0.1\" start") != 0) {
      ADD_FAILURE() << "could not start PostgreSQL in " << dir_ << " (see setup.log there)";
      return;
    }
    admin_ = "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres dbname=postgres";
  }

  std::string dir_, admin_;
  std::atomic<int> databases_{0};
};

}  // namespace mdb::catalog
