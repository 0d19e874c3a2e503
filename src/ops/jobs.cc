// Every number recorded comes from the committed manifest: size is the stored bytes the backup
// references, created_at the commit time, started_at the start of the run.
#include "ops/jobs.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "engine/engine.h"

namespace mdb::ops {

absl::StatusOr<catalog::BackupRecord> Jobs::Backup(const common::ClusterConfig& cluster,
                                                   const std::string& backup_id,
                                                   catalog::BackupRecord::CreationType type,
                                                   const CancelFlag& cancelled) {
  if (!repository_) return absl::FailedPreconditionError("no repository is configured");
  ASSIGN_OR_RETURN(auto driver, engine::MakeDriver(cluster.engine));
  ASSIGN_OR_RETURN(auto writer,
                   repository_->StartBackup(
                       {.backup_id = backup_id, .engine = common::EngineName(cluster.engine)}));
  auto result =
      driver->Backup({.cluster = &cluster, .writer = writer.get(), .cancelled = &cancelled});
  if (!result.ok()) {
    writer->Abort();  // uploaded packs become garbage for the next GC
    return result.status();
  }
  if (cancelled.load()) {
    writer->Abort();
    return absl::CancelledError("backup cancelled; its partial data is discarded");
  }
  ASSIGN_OR_RETURN(repo::Manifest m, writer->Commit(result->metadata));
  catalog::BackupRecord rec;
  rec.set_id(backup_id);
  rec.set_engine(cluster.engine);
  rec.set_folder_id(cluster.folder_id);
  rec.set_cluster_id(cluster.id);
  *rec.mutable_started_at() = m.started_at();
  *rec.mutable_created_at() = m.created_at();
  rec.set_type(type);
  rec.set_method(catalog::BackupRecord::BASE);
  rec.set_size(static_cast<int64_t>(m.stored_bytes()));
  rec.set_added_size(static_cast<int64_t>(m.added_bytes()));
  rec.set_logical_size(static_cast<int64_t>(m.logical_bytes()));
  rec.set_restore_size(static_cast<int64_t>(m.logical_bytes()));
  for (const auto& s : result->shard_names) rec.add_source_shard_names(s);
  RETURN_IF_ERROR(catalog_->PutBackup(rec));
  return rec;
}

absl::Status Jobs::Restore(const catalog::BackupRecord& backup, const common::ClusterConfig& target,
                           const CancelFlag& cancelled) {
  if (!repository_) return absl::FailedPreconditionError("no repository is configured");
  ASSIGN_OR_RETURN(auto driver, engine::MakeDriver(target.engine));
  ASSIGN_OR_RETURN(repo::Manifest m, repository_->ReadManifest(backup.id()));
  return driver->Restore(
      {.manifest = &m, .repository = repository_, .target = &target, .cancelled = &cancelled});
}

absl::Status Jobs::Delete(const std::string& backup_id) {
  RETURN_IF_ERROR(catalog_->DeleteBackup(backup_id));
  if (!repository_) return absl::OkStatus();
  absl::Status st = repository_->DeleteBackup(backup_id);
  if (!st.ok() && !absl::IsNotFound(st)) return st;  // imported records have no data
  auto gc = repository_->Gc();
  if (!gc.ok() && !absl::IsUnavailable(gc.status())) return gc.status();
  return absl::OkStatus();
}

}  // namespace mdb::ops
