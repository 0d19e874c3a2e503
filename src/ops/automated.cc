#include "ops/automated.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "ops/jobs.h"
#include "ops/reconcile.h"

namespace mdb::ops {

absl::StatusOr<Operation> AutomatedBackups::Start(const common::ClusterConfig& cluster) {
  if (!jobs_->has_repository()) {
    return absl::FailedPreconditionError("no backup repository configured");
  }
  if (jobs_->IsRunning(cluster.id)) {
    return absl::FailedPreconditionError(
        absl::StrCat("a backup or a delete of cluster '", cluster.id, "' is running"));
  }
  std::string backup_id = common::NewId();
  ASSIGN_OR_RETURN(BackupOperationShape shape, describe_(cluster, backup_id));
  // Queued for any instance (ops/tasks.cc runs it: the backup, then retention).
  ::mdb_backup::v1::OperationTask task;
  task.mutable_backup()->set_cluster_id(cluster.id);
  task.mutable_backup()->set_backup_id(backup_id);
  task.mutable_backup()->set_type(catalog::BackupRecord::AUTOMATED);
  task.mutable_backup()->set_apply_retention(true);
  *task.mutable_response() = std::move(shape.response);
  return runner_->Start(
      {.description = absl::StrCat("Automated backup of cluster '", cluster.id, "'"),
       .created_by = "scheduler",
       .folder_id = cluster.folder_id,
       .cluster_id = cluster.id,
       .metadata = std::move(shape.metadata)},
      task.SerializeAsString());
}

Scheduler::Outcome OperationOutcome(catalog::Catalog* catalog, repo::Repository* repository,
                                    const std::string& operation_id) {
  auto record = catalog->GetOperation(operation_id);
  if (!record.ok()) {
    return {.state = Scheduler::Outcome::kUnknown, .error = std::string(record.status().message())};
  }
  if (!record->operation.done()) return {};
  const auto& error = record->operation.error();
  if (!record->operation.has_error() || error.code() == 0 ||
      error.code() == static_cast<int>(absl::StatusCode::kCancelled)) {
    return {.state = Scheduler::Outcome::kDone};
  }
  // Failed after its backup was recorded (in its retention, or losing its lease after the
  // commit): that backup is the window's, and another would double the day's.
  ::mdb_backup::v1::OperationTask task;
  if (task.ParseFromString(record->request) && task.has_backup()) {
    const std::string& id = task.backup().backup_id();
    auto backup = catalog->GetBackup(id);
    if (backup.ok()) return {.state = Scheduler::Outcome::kDone};
    if (!absl::IsNotFound(backup.status())) {  // not known yet: asked again
      return {.state = Scheduler::Outcome::kUnknown,
              .error = std::string(backup.status().message())};
    }
    if (repository) {
      // Committed, and then its record failed (the catalog away for a moment, a lost lease).
      auto manifest = repository->ReadManifest(id);
      if (manifest.ok()) {
        auto listed = RecordFromManifest(*manifest);
        absl::Status put = listed.ok() ? catalog->PutBackup(*listed) : listed.status();
        common::Log(put.ok() ? common::LogLevel::kInfo : common::LogLevel::kWarning, "ops",
                    absl::StrCat("backup '", id, "' (operation ", operation_id, ") was committed ",
                                 "though its operation failed (", error.message(), "): ",
                                 put.ok() ? "listed now"
                                          : absl::StrCat("not listed (", put.message(),
                                                         "); listed at the next start")));
        return {.state = Scheduler::Outcome::kDone};
      }
      if (!absl::IsNotFound(manifest.status())) {
        return {.state = Scheduler::Outcome::kUnknown,
                .error = std::string(manifest.status().message())};
      }
    }
  }
  return {.state = Scheduler::Outcome::kFailed, .error = error.message()};
}

}  // namespace mdb::ops
