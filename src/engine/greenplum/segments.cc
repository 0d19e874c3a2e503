#include "engine/greenplum/segments.h"

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/host_options.h"
#include "common/status.h"
#include "engine/greenplum/pg_conn.h"

namespace mdb::engine::greenplum {
namespace {

constexpr int kMaxSegments = 10000;  // Greenplum's largest deployments run about a thousand

// What the rows name is connected to with the cluster's credentials: only host names and
// addresses, nothing that libpq would read as another connection parameter.
bool LooksLikeHost(const std::string& address) {
  if (address.empty() || address.size() > 253) return false;
  for (char c : address) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' &&
        c != ':' && c != '%') {
      return false;
    }
  }
  return true;
}

common::HostConfig SegmentHost(const SegmentRow& row, const common::HostConfig& coordinator,
                               const std::string& utility) {
  common::HostConfig host{.address = absl::StrCat(row.address, ":", row.port),
                          .options = coordinator.options};
  host.options.erase("discover_segments");
  host.options["gp_content"] = absl::StrCat(row.content);
  if (row.preferred_role == 'm') host.options["gp_promoted"] = "true";
  if (!utility.empty()) host.options["pg_options"] = utility;
  return host;
}

}  // namespace

bool DiscoversSegments(const common::ClusterConfig& cluster) {
  return cluster.shards.size() == 1 && cluster.shards.front().hosts.size() == 1 &&
         common::HostOption(cluster.shards.front().hosts.front(), "discover_segments") == "true";
}

std::optional<int> ContentOf(const common::HostConfig& host) {
  int content;
  auto it = host.options.find("gp_content");
  if (it == host.options.end() || !absl::SimpleAtoi(it->second, &content)) return std::nullopt;
  return content;
}

absl::Status CheckTargetLayout(const std::vector<std::string>& backup_shards,
                               const common::ClusterConfig& target) {
  std::vector<std::string> declared;
  for (const auto& s : target.shards) declared.push_back(s.name);
  if (declared == backup_shards) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("the backup holds the segments ", absl::StrJoin(backup_shards, ", "),
                   " as the coordinator listed them; target cluster '", target.id, "' declares ",
                   declared.empty() ? "none" : absl::StrJoin(declared, ", "),
                   ": declare one shard per segment with these names, in this order"));
}

absl::StatusOr<std::vector<common::ShardConfig>> LayoutFromRows(
    const std::vector<SegmentRow>& rows, const common::HostConfig& coordinator,
    const std::string& utility) {
  auto bad = [](const std::string& what) {
    return absl::FailedPreconditionError(
        absl::StrCat("gp_segment_configuration: ", what,
                     "; the segments cannot be known from it (fix the catalog, or declare every "
                     "segment's host as a shard of the cluster)"));
  };
  std::map<int, const SegmentRow*> primary, mirror;
  for (const auto& row : rows) {
    if (row.content < -1 || row.content >= kMaxSegments) {
      return bad(absl::StrCat("content id ", row.content, " is out of range"));
    }
    if (row.role != 'p' && row.role != 'm') {
      return bad(
          absl::StrCat("content ", row.content, " has role '", std::string(1, row.role), "'"));
    }
    if (row.preferred_role != 'p' && row.preferred_role != 'm') {
      return bad(absl::StrCat("content ", row.content, " has preferred role '",
                              std::string(1, row.preferred_role), "'"));
    }
    if (row.status != 'u' && row.status != 'd') {
      return bad(
          absl::StrCat("content ", row.content, " has status '", std::string(1, row.status), "'"));
    }
    if (!LooksLikeHost(row.address) || row.port < 1 || row.port > 65535) {
      return bad(absl::StrCat("content ", row.content, " has address '", row.address.substr(0, 80),
                              "' port ", row.port));
    }
    auto& slot = (row.role == 'p' ? primary : mirror)[row.content];
    if (slot) {
      return bad(absl::StrCat("content ", row.content, " has two ",
                              row.role == 'p' ? "primaries" : "mirrors"));
    }
    slot = &row;
  }
  if (!primary.count(-1)) return bad("no coordinator (content -1) is listed");
  int segments = static_cast<int>(primary.size()) - 1;
  for (const auto& [content, row] : mirror) {
    if (!primary.count(content)) return bad(absl::StrCat("content ", content, " has no primary"));
  }
  if (segments == 0 || primary.rbegin()->first != segments - 1) {
    return bad("the content ids of the segments do not run from 0 without a gap");
  }
  std::vector<common::ShardConfig> out;
  // The coordinator as declared: the address the user gave may be a name the catalog spells
  // otherwise, and its rows were just read through it.
  common::HostConfig self = coordinator;
  self.options.erase("discover_segments");
  self.options["gp_content"] = "-1";
  out.push_back({.name = "coordinator", .hosts = {self}});
  std::vector<std::string> down;
  for (int content = 0; content < segments; ++content) {
    const SegmentRow* row = primary[content];
    if (row->status != 'u') {
      down.push_back(absl::StrCat("seg", content, " (", row->address, ":", row->port, ")"));
      continue;
    }
    out.push_back(
        {.name = absl::StrCat("seg", content), .hosts = {SegmentHost(*row, coordinator, utility)}});
  }
  if (!down.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "the primary of ", absl::StrJoin(down, ", "),
        " is marked down in gp_segment_configuration; the backup runs once its mirror has taken "
        "over (FTS promotes it) or the primary is recovered (gprecoverseg)"));
  }
  return out;
}

absl::StatusOr<common::ClusterConfig> ResolveSegments(const common::ClusterConfig& cluster,
                                                      const std::atomic<bool>* cancelled) {
  if (!DiscoversSegments(cluster)) return cluster;
  const common::HostConfig& coordinator = cluster.shards.front().hosts.front();
  auto where = [&](absl::string_view what) {
    return absl::StrCat("coordinator ", coordinator.address, ": ", what);
  };
  ASSIGN_OR_RETURN(PgConn conn, PgConnect(coordinator, /*replication=*/false, cancelled));
  const std::string prefix = where("");
  auto query = [&](const std::string& sql) {
    return PgQuery(conn.get(), sql, absl::StatusCode::kFailedPrecondition, prefix, cancelled);
  };
  // A segment answers for itself only in utility mode: Greenplum 6 asks for it with
  // gp_session_role, 7 with gp_role; a PostgreSQL coordinator (tests) has neither.
  ASSIGN_OR_RETURN(PgRows roles,
                   query("SELECT name FROM pg_catalog.pg_settings "
                         "WHERE name IN ('gp_session_role', 'gp_role') ORDER BY name DESC"));
  std::string utility;
  if (!roles.rows.empty()) {
    ASSIGN_OR_RETURN(std::string name, roles.Field(0, 0, "pg_settings"));
    utility = absl::StrCat("-c ", name, "=utility");
  }
  // The catalog a superuser owns (pg_catalog on Greenplum), schema-qualified: a table of that
  // name that any role could create earlier on the search path would choose the hosts.
  ASSIGN_OR_RETURN(std::optional<std::string> schema,
                   PgSuperuserSchema(conn.get(), PgObject::kRelation, "gp_segment_configuration",
                                     prefix, cancelled));
  if (!schema) {
    return absl::FailedPreconditionError(
        where("no gp_segment_configuration owned by a superuser: not a Greenplum coordinator"));
  }
  ASSIGN_OR_RETURN(PgRows r, query(absl::StrCat("SELECT content, role, preferred_role, status, "
                                                "address, port FROM ",
                                                *schema, ".gp_segment_configuration")));
  std::vector<SegmentRow> rows;
  for (size_t i = 0; i < r.rows.size(); ++i) {
    SegmentRow row;
    std::string role, preferred, status, port, content;
    ASSIGN_OR_RETURN(content, r.Field(i, 0, "gp_segment_configuration"));
    ASSIGN_OR_RETURN(role, r.Field(i, 1, "gp_segment_configuration"));
    ASSIGN_OR_RETURN(preferred, r.Field(i, 2, "gp_segment_configuration"));
    ASSIGN_OR_RETURN(status, r.Field(i, 3, "gp_segment_configuration"));
    ASSIGN_OR_RETURN(row.address, r.Field(i, 4, "gp_segment_configuration"));
    ASSIGN_OR_RETURN(port, r.Field(i, 5, "gp_segment_configuration"));
    if (!absl::SimpleAtoi(content, &row.content) || !absl::SimpleAtoi(port, &row.port) ||
        role.size() != 1 || preferred.size() != 1 || status.size() != 1) {
      return absl::FailedPreconditionError(
          where(absl::StrCat("gp_segment_configuration row ", i + 1, " is not a segment")));
    }
    row.role = role[0];
    row.preferred_role = preferred[0];
    row.status = status[0];
    rows.push_back(std::move(row));
  }
  auto layout = LayoutFromRows(rows, coordinator, utility);
  if (!layout.ok())
    return common::WithContext(layout.status(), absl::StrCat("coordinator ", coordinator.address));
  common::ClusterConfig out = cluster;
  out.shards = *std::move(layout);
  return out;
}

}  // namespace mdb::engine::greenplum
