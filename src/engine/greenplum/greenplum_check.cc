// The pre-flight check of a Greenplum (PostgreSQL) cluster: every shard's first host (the one
// backed up and streamed from) is asked, read-only, for what BASE_BACKUP, the restore point and
// the WAL journal need. A failure names the GRANT, ALTER or pg_hba.conf line that fixes it, with
// the role and client address the server itself reported. A restore target is not connected to
// (nothing runs there before the restore); its data directory is checked instead.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/host_options.h"
#include "engine/check_list.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/greenplum/pg_conn.h"
#include "engine/greenplum/segments.h"

namespace mdb::engine::greenplum {
namespace {

// What to change when the server refused a connection, read from libpq's message (the server's
// words carry the client address and role it saw).
std::string ConnectFix(const std::string& error, const std::string& user,
                       const std::string& database) {
  std::smatch m;
  if (absl::StrContains(error, "pg_hba.conf")) {
    std::string from = "<this host's address>";
    if (std::regex_search(error, m, std::regex("host \"([0-9a-fA-F.:]+)\""))) {
      from = m[1].str() + (absl::StrContains(m[1].str(), ":") ? "/128" : "/32");
    }
    return absl::StrCat("add to pg_hba.conf, then SELECT pg_reload_conf(): host ", database, " ",
                        user, " ", from, " scram-sha-256");
  }
  if (absl::StrContains(error, "password authentication failed") ||
      absl::StrContains(error, "no password supplied")) {
    return absl::StrCat("set the role's password (ALTER ROLE ", user,
                        " PASSWORD '...') and the host's password_file to it");
  }
  if (absl::StrContains(error, "does not exist") && absl::StrContains(error, "role")) {
    return absl::StrCat("CREATE ROLE ", user, " LOGIN REPLICATION PASSWORD '...';");
  }
  if (absl::StrContains(error, "replication role") || absl::StrContains(error, "REPLICATION")) {
    return absl::StrCat("ALTER ROLE ", user, " REPLICATION;");
  }
  if (absl::StrContains(error, "wal senders") || absl::StrContains(error, "max_wal_senders")) {
    return "ALTER SYSTEM SET max_wal_senders = 10; then restart the server";
  }
  return "make the server reachable from this host at the declared address";
}

bool ValidSlotName(const std::string& slot) {
  // PostgreSQL's own rule (ReplicationSlotValidateName); the name goes into replication commands.
  return !slot.empty() && slot.size() < 64 && std::regex_match(slot, std::regex("[a-z0-9_]+"));
}

void CheckSource(const common::ShardConfig& shard, bool journal, const std::atomic<bool>* cancelled,
                 std::vector<CheckItem>* out) {
  const common::HostConfig& host = shard.hosts.front();
  CheckList c(out, absl::StrCat(shard.name, " ", host.address));
  const std::string user = common::HostOption(host, "user", "postgres");
  const std::string slot = common::HostOption(host, "wal_slot", "mdb_backup");
  auto conn = PgConnect(host, /*replication=*/false, cancelled);
  if (!conn.ok()) {
    c.Unreachable("connection", std::string(conn.status().message()),
                  ConnectFix(std::string(conn.status().message()), user,
                             common::HostOption(host, "dbname", "postgres")));
    return;
  }
  // Settings every role may read; has_function_privilege answers for the connected role.
  auto r = PgExec(conn->get(),
                  "SELECT current_user, r.rolreplication OR r.rolsuper, "
                  "current_setting('wal_level'), current_setting('max_wal_senders'), "
                  "current_setting('max_replication_slots'), current_setting('archive_timeout'), "
                  "has_function_privilege('pg_create_restore_point(text)', 'EXECUTE'), "
                  "has_function_privilege('pg_switch_wal()', 'EXECUTE'), "
                  "(SELECT count(*) FROM pg_replication_slots), "
                  "current_setting('server_version') "
                  "FROM pg_roles r WHERE r.rolname = current_user",
                  cancelled);
  if (!r.ok() || r->status != PGRES_TUPLES_OK || r->rows.size() != 1) {
    c.Unreachable("settings", r.ok() ? PgError(conn->get()) : std::string(r.status().message()),
                  "connect as a role that can log in to the database named by the host's dbname");
    return;
  }
  auto f = [&](size_t col) { return r->Field(0, col, "the pre-flight query").value_or(""); };
  c.Ok("connection", absl::StrCat("as ", f(0), ", PostgreSQL ", f(9)));
  if (f(1) != "t") {
    c.Fail("REPLICATION attribute", absl::StrCat("role ", f(0), " cannot stream"),
           absl::StrCat("ALTER ROLE ", f(0), " REPLICATION;"));
  }
  if (f(2) == "minimal") {
    c.Fail("wal_level", "minimal: no WAL for base backups or the journal",
           "ALTER SYSTEM SET wal_level = replica; then restart the server");
  } else {
    c.Ok("wal_level", f(2));
  }
  int senders = 0, slots_max = 0, slots_used = 0;
  (void)absl::SimpleAtoi(f(3), &senders);
  (void)absl::SimpleAtoi(f(4), &slots_max);
  (void)absl::SimpleAtoi(f(8), &slots_used);
  const int senders_needed = journal ? 2 : 1;  // the base backup and the journal stream at once
  if (senders < senders_needed) {
    c.Fail("max_wal_senders", absl::StrCat(senders, ", need ", senders_needed),
           "ALTER SYSTEM SET max_wal_senders = 10; then restart the server");
  }
  for (auto [col, fn] :
       {std::pair{6, "pg_create_restore_point(text)"}, std::pair{7, "pg_switch_wal()"}}) {
    if (f(col) != "t") {
      c.Fail(absl::StrCat("EXECUTE on ", fn), "permission denied: every backup calls it",
             absl::StrCat("GRANT EXECUTE ON FUNCTION ", fn, " TO ", f(0), ";"));
    }
  }
  if (journal) {
    if (!ValidSlotName(slot)) {
      c.Fail("wal_slot", absl::StrCat("'", slot, "' is not a slot name"),
             "wal_slot: lower-case letters, digits and underscores, at most 63");
    } else {
      auto existing =
          PgExec(conn->get(),
                 absl::StrCat("SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), "
                              "restart_lsn)) FROM pg_replication_slots WHERE slot_name = '",
                              slot, "'"),
                 cancelled);
      if (existing.ok() && existing->status == PGRES_TUPLES_OK && !existing->rows.empty()) {
        c.Ok("replication slot",
             absl::StrCat(slot, " exists, holding ", existing->Field(0, 0, "slot").value_or("?"),
                          " of WAL for the journal"));
      } else if (slots_used >= slots_max) {
        c.Fail("replication slot",
               absl::StrCat(slot, " is missing and max_replication_slots (", slots_max,
                            ") are all used"),
               "ALTER SYSTEM SET max_replication_slots = 10; then restart the server");
      } else {
        c.Ok("replication slot", absl::StrCat(slot, " will be created by the journal"));
      }
    }
    if (f(5) == "0") {
      c.Warn("archive_timeout",
             "0: the restorable window advances only when a WAL segment (16 MB) fills",
             "ALTER SYSTEM SET archive_timeout = '60s'; SELECT pg_reload_conf();");
    } else {
      c.Ok("archive_timeout", f(5));
    }
  }
  auto repl = PgConnect(host, /*replication=*/true, cancelled);
  if (!repl.ok()) {
    c.Unreachable("replication connection", std::string(repl.status().message()),
                  ConnectFix(std::string(repl.status().message()), f(0), "replication"));
    return;
  }
  auto id = PgExec(repl->get(), "IDENTIFY_SYSTEM", cancelled);
  if (!id.ok() || id->status != PGRES_TUPLES_OK) {
    c.Unreachable("replication connection",
                  id.ok() ? PgError(repl->get()) : std::string(id.status().message()),
                  absl::StrCat("ALTER ROLE ", f(0), " REPLICATION;"));
    return;
  }
  c.Ok("replication connection",
       absl::StrCat("system ", id->Field(0, 0, "IDENTIFY_SYSTEM").value_or("?")));
}

void CheckTarget(const common::ShardConfig& shard, std::vector<CheckItem>* out) {
  const common::HostConfig& host = shard.hosts.front();
  CheckList c(out, absl::StrCat(shard.name, " ", host.address));
  std::string dir = common::HostOption(host, "data_dir");
  if (dir.empty()) {
    c.Fail("data_dir", "not set: a restore target unpacks into it",
           "data_dir: /path/to/an/empty/directory (host option)");
    return;
  }
  std::error_code ec;
  std::filesystem::path p(dir);
  if (std::filesystem::exists(p, ec)) {
    if (!std::filesystem::is_directory(p, ec)) {
      c.Fail("data_dir", absl::StrCat(dir, " is not a directory"), "name an empty directory");
    } else if (!std::filesystem::is_empty(p, ec)) {
      c.Fail(
          "data_dir", absl::StrCat(dir, " is not empty: a restore never overwrites"),
          absl::StrCat("stop the server using it and empty ", dir, ", or name another directory"));
    } else if (access(dir.c_str(), W_OK) != 0) {
      c.Fail("data_dir", absl::StrCat(dir, ": ", strerror(errno)),
             "let mdb-backupd's user write it");
    } else {
      c.Ok("data_dir", absl::StrCat(dir, " is empty"));
    }
  } else if (access(p.parent_path().c_str(), W_OK) != 0) {
    c.Fail("data_dir", absl::StrCat(p.parent_path().string(), ": ", strerror(errno)),
           absl::StrCat("create ", dir, " owned by the server's user (postgres)"));
  } else {
    c.Ok("data_dir", absl::StrCat(dir, " will be created"));
  }
}

}  // namespace

std::vector<CheckItem> GreenplumDriver::Check(const common::ClusterConfig& declared,
                                              const std::atomic<bool>* cancelled) {
  std::vector<CheckItem> out;
  // A cluster declared by its coordinator is checked as the segments it lists now.
  common::ClusterConfig cluster = declared;
  if (DiscoversSegments(declared) && !declared.restore_target) {
    const auto& coordinator = declared.shards.front();
    CheckList c(&out, absl::StrCat(coordinator.name, " ", coordinator.hosts.front().address));
    auto resolved = ResolveSegments(declared, cancelled);
    if (!resolved.ok()) {
      c.Unreachable("segments", std::string(resolved.status().message()),
                    "the service's user must be able to read gp_segment_configuration on the "
                    "coordinator, and every primary must be up");
      return out;
    }
    std::vector<std::string> names;
    for (const auto& s : resolved->shards) {
      names.push_back(absl::StrCat(s.name, " ", s.hosts.front().address));
    }
    c.Ok("segments", absl::StrCat("from gp_segment_configuration: ", absl::StrJoin(names, ", ")));
    cluster = *std::move(resolved);
  }
  const bool journal =
      !cluster.shards.empty() && !cluster.shards.front().hosts.empty() &&
      common::HostOption(cluster.shards.front().hosts.front(), "wal_archive") != "off";
  // wal_archive is read from the first shard's first host only, and only "off" turns it off.
  for (const auto& shard : cluster.shards) {
    for (const auto& host : shard.hosts) {
      auto it = host.options.find("wal_archive");
      if (it == host.options.end()) continue;
      CheckList c(&out, absl::StrCat(shard.name, " ", host.address));
      if (&host != &cluster.shards.front().hosts.front() && (it->second == "off") != !journal) {
        c.Fail("wal_archive",
               absl::StrCat("'", it->second, "' here, but the first shard's first host decides: ",
                            journal ? "on" : "off"),
               "set wal_archive on the first host of the first shard (it is cluster-wide)");
      } else if (it->second != "on" && it->second != "off") {
        c.Fail("wal_archive", absl::StrCat("'", it->second, "' is neither on nor off"),
               "wal_archive: \"off\" (quoted: YAML reads a bare off as false)");
      }
    }
  }
  for (const auto& shard : cluster.shards) {
    if (shard.hosts.empty()) continue;
    if (cluster.restore_target) {
      CheckTarget(shard, &out);
    } else {
      CheckSource(shard, journal, cancelled, &out);
    }
  }
  return out;
}

std::vector<std::string> GreenplumDriver::LeftOnServers(const common::ClusterConfig& cluster) {
  std::vector<std::string> out;
  if (cluster.restore_target || cluster.shards.empty() || cluster.shards.front().hosts.empty() ||
      common::HostOption(cluster.shards.front().hosts.front(), "wal_archive") == "off") {
    return out;
  }
  if (DiscoversSegments(cluster)) {  // not asked here: reloads do not wait on a coordinator
    const std::string slot =
        common::HostOption(cluster.shards.front().hosts.front(), "wal_slot", "mdb_backup");
    out.push_back(absl::StrCat(
        "replication slot ", slot, " on the coordinator ",
        cluster.shards.front().hosts.front().address,
        " and on every segment it lists keeps WAL until dropped there (in utility mode on the "
        "segments): SELECT pg_drop_replication_slot('",
        slot, "');"));
    return out;
  }
  for (const auto& shard : cluster.shards) {
    if (shard.hosts.empty()) continue;
    const std::string slot = common::HostOption(shard.hosts.front(), "wal_slot", "mdb_backup");
    out.push_back(absl::StrCat("replication slot ", slot, " on ", shard.hosts.front().address,
                               " keeps WAL until dropped there: SELECT pg_drop_replication_slot('",
                               slot, "');"));
  }
  return out;
}

}  // namespace mdb::engine::greenplum
