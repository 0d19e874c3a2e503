// mdb_backup.v1.RecoveryService: the restorable window of a cluster of any engine, computed by
// ops (BackupJobs::RecoveryWindowOf) and written into the service's own message; restore
// drills (queued as operations, ops/drill_schedule.h) and their results.
#include "absl/strings/str_cat.h"
#include "api/api.h"
#include "api/fields.h"
#include "api/validation.h"
#include "common/status.h"
#include "common/time_util.h"
#include "mdb_backup/v1/recovery_service.pb.h"
#include "ops/drill_schedule.h"

namespace mdb::api {

absl::Status Api::GetRecoveryWindow(const Ctx& c, const Message& req, Message* resp) {
  const std::string id = GetString(req, "cluster_id");
  const common::ClusterConfig* cluster = c.snap.config->FindCluster(id);
  if (!cluster || !c.who.CanRead(cluster->folder_id)) {
    return absl::NotFoundError(absl::StrCat("cluster ", Quoted(id), " not found"));
  }
  if (!jobs_) return absl::FailedPreconditionError("this server runs no backups");
  ASSIGN_OR_RETURN(ops::RecoveryWindow window, jobs_->RecoveryWindowOf(*cluster));
  auto* out = static_cast<::mdb_backup::v1::RecoveryWindow*>(resp);
  out->set_cluster_id(cluster->id);
  out->set_point_in_time(window.point_in_time);
  for (const auto& s : window.spans) {
    auto* span = out->add_spans();
    *span->mutable_from() = common::ToProto(s.from);
    *span->mutable_to() = common::ToProto(s.to);
    for (const auto& b : s.backup_ids) span->add_backup_ids(b);
  }
  for (const auto& g : window.gaps) {
    auto* gap = out->add_gaps();
    *gap->mutable_from() = common::ToProto(g.from);
    *gap->mutable_to() = common::ToProto(g.to);
    gap->set_reason(g.reason);
  }
  if (!window.spans.empty()) {
    *out->mutable_earliest() = common::ToProto(window.spans.front().from);
    *out->mutable_latest() = common::ToProto(window.spans.back().to);
    if (window.point_in_time) out->set_latest_reason(window.spans.back().stopped);
  }
  return absl::OkStatus();
}

absl::Status Api::DrillBackup(const Ctx& c, const Message& req, Message* resp) {
  const std::string id = GetString(req, "backup_id");
  auto rec = catalog_->GetBackup(id);
  if ((rec.ok() && !c.who.CanRead(rec->folder_id())) || absl::IsNotFound(rec.status())) {
    return absl::NotFoundError(absl::StrCat("backup ", Quoted(id), " not found"));
  }
  RETURN_IF_ERROR(rec.status());
  if (!c.who.CanRestore(rec->folder_id())) {  // a drill takes the backup's data out
    return absl::PermissionDeniedError(
        absl::StrCat("the token may not restore backups of folder '", rec->folder_id(),
                     "': it needs 'restore' (or 'write') on that folder"));
  }
  std::string target = GetString(req, "target");
  if (target.empty()) target = "local";
  const common::EngineInfo* engine = engines_.Find(rec->engine());
  if (target == "local" && engine && !engine->local_drills) {
    const std::string name(engine->name);
    return absl::InvalidArgumentError(
        absl::StrCat(name, " backups are not drilled `local` (the service starts no ", name,
                     " servers of its own): give as target a cluster declared 'scratch: true'"));
  }
  if (target != "local") {
    // Emptied before and after: only a cluster declared for exactly that, in a folder the token
    // may modify.
    const common::ClusterConfig* scratch = c.snap.config->FindCluster(target);
    if (!scratch || !c.who.CanRead(scratch->folder_id)) {
      return absl::NotFoundError(absl::StrCat("drill target cluster ", Quoted(target),
                                              " is not declared; use 'local' or a cluster "
                                              "declared 'scratch: true'"));
    }
    if (!scratch->scratch || scratch->engine != rec->engine()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cluster ", Quoted(target), " is not a ", engines_.Name(rec->engine()),
                       " cluster declared 'scratch: true': a drill empties its target"));
    }
    if (!c.who.CanWrite(scratch->folder_id)) {
      return absl::PermissionDeniedError(
          absl::StrCat("the token may not modify folder '", scratch->folder_id, "'"));
    }
  }
  if (!jobs_ || !jobs_->has_repository()) {
    return absl::FailedPreconditionError("this server has no backup repository configured");
  }
  // One at a time per cluster: each holds a worker (and servers) while it runs.
  ASSIGN_OR_RETURN(bool pending, ops::DrillPending(catalog_, rec->cluster_id()));
  if (pending) {
    return absl::FailedPreconditionError(
        absl::StrCat("a drill of cluster '", rec->cluster_id(),
                     "' is already queued or running; wait for it to finish"));
  }
  ASSIGN_OR_RETURN(ops::Operation op, ops::QueueDrill(runner_, *rec, target, c.who.subject()));
  resp->CopyFrom(op);
  return absl::OkStatus();
}

absl::Status Api::ListVerifications(const Ctx& c, const Message& req, Message* resp) {
  const std::string id = GetString(req, "cluster_id");
  const common::ClusterConfig* cluster = c.snap.config->FindCluster(id);
  if (!cluster || !c.who.CanRead(cluster->folder_id)) {
    return absl::NotFoundError(absl::StrCat("cluster ", Quoted(id), " not found"));
  }
  auto* out = static_cast<::mdb_backup::v1::ListVerificationsResponse*>(resp);
  catalog::ListQuery q{.engine = cluster->engine,
                       .folder_id = cluster->folder_id,  // as ListClusterBackups
                       .cluster_id = cluster->id,
                       .page_size = 1000};
  absl::Time last = absl::InfinitePast();
  for (int pages = 0; pages < 10; ++pages) {  // 10,000 backups: past that, the newest ones
    ASSIGN_OR_RETURN(catalog::ListPage page, catalog_->ListBackups(q));
    for (const auto& b : page.backups) {
      auto* v = out->add_backups();
      v->set_backup_id(b.id());
      *v->mutable_created_at() = b.created_at();
      if (b.has_verification()) {
        *v->mutable_verification() = b.verification();
        if (b.verification().ok()) {
          last = std::max(last, common::FromProto(b.verification().verified_at()));
        }
      }
    }
    if (page.next_page_token.empty()) break;
    q.page_token = page.next_page_token;
  }
  if (last != absl::InfinitePast()) *out->mutable_last_verified_at() = common::ToProto(last);
  return absl::OkStatus();
}

}  // namespace mdb::api
