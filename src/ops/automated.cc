#include "ops/automated.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "ops/jobs.h"

namespace mdb::ops {

absl::StatusOr<Operation> AutomatedBackups::Start(const common::ClusterConfig& cluster) {
  if (!jobs_->has_repository()) {
    return absl::FailedPreconditionError("no backup repository configured");
  }
  if (jobs_->IsRunning(cluster.id)) {
    return absl::FailedPreconditionError(
        absl::StrCat("a backup of cluster '", cluster.id, "' is running"));
  }
  std::string backup_id = common::NewId();
  ASSIGN_OR_RETURN(BackupOperationShape shape, describe_(cluster, backup_id));
  Jobs* jobs = jobs_;
  return runner_->Start(
      {.description = absl::StrCat("Automated backup of cluster '", cluster.id, "'"),
       .created_by = "scheduler",
       .folder_id = cluster.folder_id,
       .metadata = std::move(shape.metadata)},
      [jobs, cluster, backup_id, response = std::move(shape.response)](
          const TaskContext& task) -> absl::StatusOr<google::protobuf::Any> {
        RETURN_IF_ERROR(
            jobs->Backup(cluster, backup_id, catalog::BackupRecord::AUTOMATED, task).status());
        // Retention runs after a successful backup only: a failing cluster keeps its old backups.
        RETURN_IF_ERROR(jobs->ApplyRetention(cluster, absl::Now()).status());
        return response;
      });
}

}  // namespace mdb::ops
