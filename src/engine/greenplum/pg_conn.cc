// Keyword/value arrays rather than a conninfo string: no quoting of user-supplied values needed.
#include "engine/greenplum/pg_conn.h"

#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace mdb::engine::greenplum {

absl::StatusOr<PgConn> PgConnect(const common::HostConfig& host, bool replication) {
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
  PgConn conn(PQconnectdbParams(keys.data(), v.data(), 0));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat(
        "postgres ", host.address, ": ", conn ? PQerrorMessage(conn.get()) : "out of memory"));
  }
  return conn;
}

}  // namespace mdb::engine::greenplum
