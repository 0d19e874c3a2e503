// The long work behind ClusterService.Backup / Restore and BackupService.Delete: engine driver,
// repository and catalog put together. Run inside an Operation (operation_runner.h).
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "common/config.h"
#include "ops/operation_runner.h"
#include "repo/repository.h"

namespace mdb::ops {

class Jobs {
 public:
  Jobs(catalog::Catalog* catalog, repo::Repository* repository)
      : catalog_(catalog), repository_(repository) {}

  // Takes a backup of `cluster` with id `backup_id`, commits it to the repository and then
  // records it in the catalog (the catalog is an index of the repository, written second).
  absl::StatusOr<catalog::BackupRecord> Backup(const common::ClusterConfig& cluster,
                                               const std::string& backup_id,
                                               catalog::BackupRecord::CreationType type,
                                               const TaskContext& task);

  // Restores `backup` into the servers of `target`.
  absl::Status Restore(const catalog::BackupRecord& backup, const common::ClusterConfig& target,
                       const TaskContext& task);

  // Removes the backup from the catalog and the repository, then collects its data. A GC that
  // cannot run now (a backup is being written) is left to the next one; the backup is gone.
  absl::Status Delete(const std::string& backup_id);

  // Deletes the cluster's AUTOMATED backups that outlived its retention (ops/retention.h).
  // Returns the ids deleted.
  absl::StatusOr<std::vector<std::string>> ApplyRetention(const common::ClusterConfig& cluster,
                                                          absl::Time now);

  // When the cluster's newest AUTOMATED backup started; InfinitePast if it has none.
  absl::Time LastAutomated(const common::ClusterConfig& cluster);

  // True while a backup of the cluster runs in this process (one at a time per cluster).
  bool IsRunning(const std::string& cluster_id);

  bool has_repository() const { return repository_ != nullptr; }

 private:
  // Removes the backup from the catalog and its manifest from the repository (no GC).
  absl::Status Forget(const std::string& backup_id);
  // Runs the repository's GC; a GC refused because a backup is being written is left to the next.
  absl::Status CollectGarbage();
  absl::StatusOr<std::vector<catalog::BackupRecord>> AllBackups(
      const common::ClusterConfig& cluster);

  catalog::Catalog* catalog_;
  repo::Repository* repository_;
  std::mutex mu_;
  std::set<std::string> running_;
};

}  // namespace mdb::ops
