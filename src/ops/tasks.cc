#include "ops/tasks.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "common/time_util.h"
#include "ops/jobs.h"

namespace mdb::ops {

using OperationTask = ::mdb_backup::v1::OperationTask;

absl::StatusOr<common::ClusterConfig> Tasks::Cluster(const std::string& id) {
  std::optional<common::ClusterConfig> cluster = find_cluster_(id);
  if (!cluster) {
    // Instances share one config; one that lacks the cluster (a reload not yet everywhere)
    // fails the operation rather than guess.
    return absl::FailedPreconditionError(
        absl::StrCat("cluster '", id,
                     "' is not declared in the config of the instance that ran this operation; "
                     "give every instance the same config and start it again"));
  }
  return *std::move(cluster);
}

absl::StatusOr<google::protobuf::Any> Tasks::Run(const std::string& request,
                                                 const TaskContext& task) {
  OperationTask t;
  if (!t.ParseFromString(request)) {
    return absl::DataLossError("the operation's stored request is unreadable");
  }
  const bool needs_repository = t.has_backup() || t.has_restore();
  if (needs_repository && !jobs_) {
    return absl::FailedPreconditionError("this server has no backup repository configured");
  }
  switch (t.task_case()) {
    case OperationTask::kBackup: {
      const OperationTask::Backup& b = t.backup();
      ASSIGN_OR_RETURN(common::ClusterConfig cluster, Cluster(b.cluster_id()));
      if (cluster.restore_target) {  // declared so since the call: the config decides
        return absl::FailedPreconditionError(absl::StrCat(
            "cluster '", cluster.id, "' is declared as a restore target: it is not backed up"));
      }
      RETURN_IF_ERROR(jobs_->Backup(cluster, b.backup_id(), b.type(), task).status());
      // Retention runs after a successful backup only: a failing cluster keeps its old backups.
      if (b.apply_retention())
        RETURN_IF_ERROR(jobs_->ApplyRetention(cluster, absl::Now()).status());
      break;
    }
    case OperationTask::kRestore: {
      const OperationTask::Restore& r = t.restore();
      auto backup = catalog_->GetBackup(r.backup_id());
      if (absl::IsNotFound(backup.status())) {
        return absl::NotFoundError(
            absl::StrCat("backup '", r.backup_id(), "' was deleted before the restore started"));
      }
      RETURN_IF_ERROR(backup.status());
      ASSIGN_OR_RETURN(common::ClusterConfig target, Cluster(r.target_cluster_id()));
      std::optional<absl::Time> point;
      if (r.has_point_in_time()) point = common::FromProto(r.point_in_time());
      RETURN_IF_ERROR(jobs_->Restore(*backup, target, task, point));
      break;
    }
    case OperationTask::kDeleteBackup: {
      const std::string& id = t.delete_backup().backup_id();
      RETURN_IF_ERROR(jobs_ ? jobs_->Delete(id) : catalog_->DeleteBackup(id));
      break;
    }
    default:
      // Queued by a newer version during a rolling upgrade: the claim made it this instance's,
      // which can only fail it, with what to do.
      return absl::UnimplementedError(
          "this operation was queued by a newer mdb-backupd: upgrade every instance");
  }
  return t.response();
}

}  // namespace mdb::ops
