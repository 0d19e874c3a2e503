#include "engine/greenplum/cut.h"

#include <libpq-fe.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/host_options.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/greenplum/pg_conn.h"
#include "engine/greenplum/segments.h"

namespace mdb::engine::greenplum {
namespace {

// A query that must succeed with rows; its failure names the shard.
absl::StatusOr<PgRows> Query(PGconn* conn, const std::string& sql, const std::string& shard,
                             const std::atomic<bool>* cancelled) {
  return PgQuery(conn, sql, absl::StatusCode::kFailedPrecondition,
                 absl::StrCat("shard '", shard, "': ", sql.substr(0, 60), ": "), cancelled);
}

// gp_create_restore_point on the coordinator: nullopt when it has none (a PostgreSQL
// coordinator, or a Greenplum 6 without the gp_pitr extension). Only a function a superuser owns
// is called, schema-qualified (PgSuperuserSchema): one that any role could create in `public`
// would hand back positions of its choosing.
absl::StatusOr<std::optional<std::map<int, Lsn>>> CoordinatorCut(
    const common::ClusterConfig& cluster, const std::string& name, const std::vector<int>& contents,
    const std::atomic<bool>* cancelled) {
  const common::ShardConfig& coordinator = cluster.shards.front();
  ASSIGN_OR_RETURN(PgConn conn,
                   PgConnect(coordinator.hosts.front(), /*replication=*/false, cancelled));
  ASSIGN_OR_RETURN(std::optional<std::string> schema,
                   PgSuperuserSchema(conn.get(), PgObject::kFunction, "gp_create_restore_point",
                                     absl::StrCat("shard '", coordinator.name,
                                                  "': looking up gp_create_restore_point: "),
                                     cancelled));
  if (!schema) {
    if (!common::HostOption(cluster.shards.back().hosts.front(), "pg_options").empty()) {
      common::Log(common::LogLevel::kWarning, "greenplum",
                  absl::StrCat("cluster '", cluster.id,
                               "': the coordinator has no gp_create_restore_point (Greenplum 6: "
                               "CREATE EXTENSION gp_pitr), so the restore point is made segment "
                               "by segment and a distributed transaction may straddle it"));
    }
    return std::nullopt;
  }
  // (name is our own spelling of a parsed position; it goes into SQL.)
  ASSIGN_OR_RETURN(PgRows r, Query(conn.get(),
                                   absl::StrCat("SELECT segment_id::text, restore_lsn::text FROM ",
                                                *schema, ".gp_create_restore_point('", name, "')"),
                                   coordinator.name, cancelled));
  std::vector<std::pair<std::string, std::string>> rows;
  for (size_t i = 0; i < r.rows.size(); ++i) {
    ASSIGN_OR_RETURN(std::string id, r.Field(i, 0, "gp_create_restore_point"));
    ASSIGN_OR_RETURN(std::string lsn, r.Field(i, 1, "gp_create_restore_point"));
    rows.emplace_back(std::move(id), std::move(lsn));
  }
  auto cut = CutFromRows(rows, contents);
  if (!cut.ok()) return common::WithContext(cut.status(), "gp_create_restore_point");
  return std::optional(*std::move(cut));
}

}  // namespace

absl::StatusOr<std::map<int, Lsn>> CutFromRows(
    const std::vector<std::pair<std::string, std::string>>& rows,
    const std::vector<int>& contents) {
  std::map<int, Lsn> out;
  for (const auto& [id, text] : rows) {
    int content;
    std::optional<Lsn> lsn = ParseLsn(text);
    if (!absl::SimpleAtoi(id, &content) || !lsn) {
      return absl::DataLossError(absl::StrCat("a row (", id.substr(0, 20), ", ", text.substr(0, 40),
                                              ") is not a segment position"));
    }
    if (std::find(contents.begin(), contents.end(), content) == contents.end()) {
      return absl::AbortedError(absl::StrCat(
          "segment ", content,
          " is not one this backup read: the segments changed during the backup; run it again"));
    }
    if (!out.emplace(content, *lsn).second) {
      return absl::DataLossError(absl::StrCat("segment ", content, " is listed twice"));
    }
  }
  for (int content : contents) {
    if (!out.count(content)) {
      return absl::AbortedError(
          absl::StrCat("segment ", content,
                       " has no position: the segments changed during the backup; run it again"));
    }
  }
  return out;
}

absl::Status MakeRestorePoint(const common::ClusterConfig& cluster, mdb_backup::v1::PgBackup* meta,
                              const std::atomic<bool>* cancelled) {
  const std::string& name = meta->restore_point();
  std::optional<std::map<int, Lsn>> cut;
  if (meta->layout() == "gp_segment_configuration") {
    std::vector<int> contents;
    for (const auto& s : meta->shards()) contents.push_back(s.content_id());
    ASSIGN_OR_RETURN(cut, CoordinatorCut(cluster, name, contents, cancelled));
  }
  meta->set_cut(cut ? "gp_create_restore_point" : "per-segment");
  for (int i = 0; i < meta->shards_size(); ++i) {
    auto* shard = meta->mutable_shards(i);
    ASSIGN_OR_RETURN(PgConn conn, PgConnect(cluster.shards[i].hosts.front(),
                                            /*replication=*/false, cancelled));
    if (cut) {
      shard->set_restore_point_lsn(FormatLsn(cut->at(shard->content_id())));
    } else {
      ASSIGN_OR_RETURN(
          PgRows r,
          Query(conn.get(), absl::StrCat("SELECT pg_create_restore_point('", name, "')::text"),
                shard->name(), cancelled));
      auto lsn = r.LsnField(0, 0, "pg_create_restore_point");
      if (!lsn.ok()) {
        return common::WithContext(lsn.status(), absl::StrCat("shard '", shard->name(), "'"));
      }
      shard->set_restore_point_lsn(FormatLsn(*lsn));
    }
    // Close the segment holding the restore point, so that the WAL archiver commits it now and
    // a restore to this point does not wait for the segment to fill.
    // (Best effort, as the archiver's own timeout closes it too.)
    RETURN_IF_ERROR(PgExec(conn.get(), "SELECT pg_switch_wal()", cancelled).status());
  }
  return absl::OkStatus();
}

}  // namespace mdb::engine::greenplum
