#include "engine/greenplum/relations.h"

#include <functional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/greenplum/pg_conn.h"

namespace mdb::engine::greenplum {
namespace {

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

absl::StatusOr<std::string> Unescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) return absl::DataLossError("a relation list ends in an escape");
    out += s[i] == 't' ? '\t' : s[i] == 'n' ? '\n' : s[i];
  }
  return out;
}

}  // namespace

namespace {

// `sql`'s rows; Unavailable (a later backup may find the database answering), prefixed with
// `where`, when the server answers with an error.
absl::StatusOr<PgRows> Rows(PGconn* c, const std::string& where, const std::string& sql,
                            const std::atomic<bool>* cancelled) {
  return PgQuery(c, sql, absl::StatusCode::kUnavailable, where, cancelled);
}

// Calls `fn` with a connection to every database of the server that accepts connections, its
// search_path emptied: the database's own (ALTER ROLE/DATABASE ... SET) could put its functions
// and operators before pg_catalog's; empty, only pg_catalog is searched. A database the service
// may not connect to goes to `refused` (its oid and why) when given, else fails the call.
absl::Status ForEachDatabase(
    const common::HostConfig& host, const std::atomic<bool>* cancelled,
    const std::function<absl::Status(PGconn* conn, const std::string& db)>& fn,
    const std::function<void(const std::string& oid, const absl::Status& why)>& refused = {}) {
  ASSIGN_OR_RETURN(PgConn conn, PgConnect(host, /*replication=*/false, cancelled));
  ASSIGN_OR_RETURN(PgRows dbs, Rows(conn.get(), "",
                                    "SELECT datname, oid FROM pg_catalog.pg_database WHERE "
                                    "datallowconn ORDER BY datname",
                                    cancelled));
  for (size_t i = 0; i < dbs.rows.size(); ++i) {
    ASSIGN_OR_RETURN(std::string db, dbs.Field(i, 0, "the database list"));
    ASSIGN_OR_RETURN(std::string oid, dbs.Field(i, 1, "the database list"));
    common::HostConfig in_db = host;
    in_db.options["dbname"] = db;
    auto connected = PgConnect(in_db, /*replication=*/false, cancelled);
    if (!connected.ok() && refused && !absl::IsCancelled(connected.status())) {
      refused(oid, connected.status());
      continue;
    }
    ASSIGN_OR_RETURN(PgConn c, std::move(connected));
    RETURN_IF_ERROR(Rows(c.get(), absl::StrCat("database '", db, "': "),
                         "SELECT pg_catalog.set_config('search_path', '', false)", cancelled)
                        .status());
    RETURN_IF_ERROR(fn(c.get(), db));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::set<std::string>> AppendOptimizedRelations(const common::HostConfig& host,
                                                               const std::atomic<bool>* cancelled) {
  std::set<std::string> out;
  {
    // Databases that refuse connections cannot be looked into: their directories are taken
    // whole. (template0 is frozen: nothing in it changes, so page LSNs hold there.)
    ASSIGN_OR_RETURN(PgConn conn, PgConnect(host, /*replication=*/false, cancelled));
    ASSIGN_OR_RETURN(PgRows closed, Rows(conn.get(), "",
                                         "SELECT 'base/' || oid FROM pg_catalog.pg_database "
                                         "WHERE NOT datallowconn AND datname <> 'template0'",
                                         cancelled));
    for (size_t k = 0; k < closed.rows.size(); ++k) {
      ASSIGN_OR_RETURN(std::string dir, closed.Field(k, 0, "the closed databases"));
      out.insert(std::move(dir));
    }
  }
  RETURN_IF_ERROR(ForEachDatabase(
      host, cancelled,
      [&](PGconn* c, const std::string& db) {
        const std::string where = absl::StrCat("database '", db, "': ");
        ASSIGN_OR_RETURN(PgRows gp6, Rows(c, where,
                                          "SELECT count(*) FROM pg_catalog.pg_attribute WHERE "
                                          "attrelid = 'pg_catalog.pg_class'::pg_catalog.regclass "
                                          "AND attname = 'relstorage'",
                                          cancelled));
        ASSIGN_OR_RETURN(std::string has_relstorage, gp6.Field(0, 0, "pg_attribute"));
        ASSIGN_OR_RETURN(
            PgRows r,
            Rows(
                c, where,
                absl::StrCat("SELECT 'base/' || d.oid || '/' || c.relfilenode FROM "
                             "pg_catalog.pg_class c, pg_catalog.pg_database d WHERE d.datname = "
                             "pg_catalog.current_database() AND c.relfilenode <> 0 AND (c.relam IN "
                             "(SELECT oid FROM pg_catalog.pg_am WHERE amname IN ('ao_row', "
                             "'ao_column'))",
                             has_relstorage == "0" ? "" : " OR c.relstorage IN ('a', 'c')", ")"),
                cancelled));
        for (size_t k = 0; k < r.rows.size(); ++k) {
          ASSIGN_OR_RETURN(std::string path, r.Field(k, 0, "the append-optimized tables"));
          out.insert(std::move(path));
        }
        return absl::OkStatus();
      },
      [&](const std::string& oid, const absl::Status& why) {
        // Not to be looked into (pg_hba lets the service into some databases only): its files
        // whole.
        common::Log(
            common::LogLevel::kWarning, "greenplum",
            absl::StrCat(host.address, ": database ", oid, " refused the connection, so its ",
                         "relation files are copied whole by INCREMENTALs (allow the role ",
                         "into every database to keep them page-level): ", why.message()));
        out.insert(absl::StrCat("base/", oid));
      }));
  return out;
}

absl::StatusOr<std::vector<Relation>> ListRelations(const common::HostConfig& host,
                                                    const std::atomic<bool>* cancelled) {
  std::vector<Relation> out;
  RETURN_IF_ERROR(ForEachDatabase(host, cancelled, [&](PGconn* c, const std::string& db) {
    ASSIGN_OR_RETURN(
        PgRows r,
        Rows(c, absl::StrCat("database '", db, "': "),
             "SELECT n.nspname || '.' || c.relname, c.relkind, pg_catalog.pg_relation_size(c.oid) "
             "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
             "WHERE c.relkind IN ('r', 'i', 'm', 'p', 'I') AND c.relpersistence IN ('p', 'u') "
             "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
             "AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1",
             cancelled));
    for (size_t k = 0; k < r.rows.size(); ++k) {
      Relation rel{.database = db};
      ASSIGN_OR_RETURN(rel.name, r.Field(k, 0, "the relation list"));
      ASSIGN_OR_RETURN(std::string kind, r.Field(k, 1, "the relation list"));
      ASSIGN_OR_RETURN(std::string bytes, r.Field(k, 2, "the relation list"));
      rel.kind = kind.empty() ? '?' : kind[0];
      (void)absl::SimpleAtoi(bytes, &rel.bytes);
      out.push_back(std::move(rel));
    }
    return absl::OkStatus();
  }));
  return out;
}

std::string FormatRelations(const std::vector<Relation>& relations) {
  std::string out;
  for (const auto& r : relations) {
    absl::StrAppend(&out, Escape(r.database), "\t", Escape(r.name), "\t", std::string(1, r.kind),
                    "\t", r.bytes, "\n");
  }
  return out;
}

absl::StatusOr<std::vector<Relation>> ParseRelations(const std::string& text) {
  std::vector<Relation> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, '\t');
    Relation r;
    if (f.size() != 4 || f[2].size() != 1 || !absl::SimpleAtoi(f[3], &r.bytes)) {
      return absl::DataLossError("the backup's relation list is damaged");
    }
    ASSIGN_OR_RETURN(r.database, Unescape(f[0]));
    ASSIGN_OR_RETURN(r.name, Unescape(f[1]));
    r.kind = f[2][0];
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace mdb::engine::greenplum
