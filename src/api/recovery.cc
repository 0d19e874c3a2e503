// mdb_backup.v1.RecoveryService: the restorable window of a cluster of any engine, computed by
// ops (BackupJobs::RecoveryWindowOf) and written into the service's own message.
#include "absl/strings/str_cat.h"
#include "api/api.h"
#include "api/fields.h"
#include "api/validation.h"
#include "common/status.h"
#include "common/time_util.h"
#include "mdb_backup/v1/recovery_service.pb.h"

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

}  // namespace mdb::api
