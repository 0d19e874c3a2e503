#include "ops/tasks.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "common/time_util.h"
#include "metrics/metrics.h"
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

metrics::BackupFigures FiguresOf(const catalog::BackupRecord& backup, std::string engine) {
  return {.engine = std::move(engine),
          .cluster = backup.cluster_id(),
          .method = catalog::BackupRecord::Method_Name(backup.method()),
          .started = common::FromProto(backup.started_at()),
          .completed = common::FromProto(backup.created_at()),
          .logical_bytes = backup.logical_size(),
          .stored_bytes = backup.size(),
          .added_bytes = backup.added_size()};
}

namespace {

// Counts the operation as running on this instance while in scope.
struct Running {
  explicit Running(std::string k) : kind(std::move(k)) {
    metrics::Metrics::Get().OperationStarted(kind);
  }
  ~Running() { metrics::Metrics::Get().OperationEnded(kind); }
  std::string kind;
};

}  // namespace

absl::StatusOr<google::protobuf::Any> Tasks::Run(const std::string& request,
                                                 const TaskContext& task) {
  OperationTask t;
  if (!t.ParseFromString(request)) {
    return absl::DataLossError("the operation's stored request is unreadable");
  }
  const bool needs_repository = t.has_backup() || t.has_restore() || t.has_drill();
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
      Running running("backup");
      const std::string engine(jobs_->engines().table().Name(cluster.engine));
      auto rec = jobs_->Backup(cluster, b.backup_id(), b.type(), task);
      if (!rec.ok()) {
        metrics::Metrics::Get().BackupFailed(engine, cluster.id, rec.status().code());
        return rec.status();
      }
      metrics::Metrics::Get().BackupSucceeded(FiguresOf(*rec, engine));
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
      Running running("restore");
      absl::Status restored = jobs_->Restore(*backup, target, task, point, r.engine_options());
      metrics::Metrics::Get().RestoreEnded(
          std::string(jobs_->engines().table().Name(target.engine)), target.id, restored.code());
      RETURN_IF_ERROR(restored);
      break;
    }
    case OperationTask::kDrill: {
      const OperationTask::Drill& d = t.drill();
      auto backup = catalog_->GetBackup(d.backup_id());
      if (absl::IsNotFound(backup.status())) {
        return absl::NotFoundError(
            absl::StrCat("backup '", d.backup_id(), "' was deleted before its drill started"));
      }
      RETURN_IF_ERROR(backup.status());
      std::optional<common::ClusterConfig> scratch;
      if (!d.target().empty() && d.target() != "local") {
        ASSIGN_OR_RETURN(scratch, Cluster(d.target()));
        if (!scratch->scratch || scratch->engine != backup->engine()) {  // the config decides
          return absl::FailedPreconditionError(
              absl::StrCat("cluster '", scratch->id, "' is not declared 'scratch: true' for ",
                           "this engine: a drill restores only into its own servers"));
        }
      }
      Running running("drill");
      ASSIGN_OR_RETURN(auto verification, jobs_->Drill(*backup, scratch ? &*scratch : nullptr,
                                                       drills_(), clusters_(), task));
      if (!verification.ok()) {
        return absl::DataLossError(absl::StrCat("the drill of backup '", d.backup_id(),
                                                "' failed: ", verification.message()));
      }
      google::protobuf::Any response;
      response.PackFrom(verification);
      return response;
    }
    case OperationTask::kDeleteBackup: {
      Running running("delete");
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
