// What the API asks of the backup machinery, and nothing more: the API layer sees this narrow
// interface (as restic's archiver sees only the repository calls it makes), not ops::Jobs and
// never an engine driver. ops::Jobs implements it; tests of the API may hand it a fake.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "catalog/catalog.h"
#include "common/config.h"
#include "ops/operation_runner.h"
#include "ops/recovery_window.h"

namespace mdb::ops {

// The hosts of a cluster as a pre-flight check found them.
struct HostsProbe {
  enum class Health { kUnknown, kAlive, kDegraded, kDead };
  Health health = Health::kUnknown;  // alive: every host answered; dead: none did
  absl::Time at;
};

class BackupJobs {
 public:
  virtual ~BackupJobs() = default;

  // Takes a backup of `cluster` with id `backup_id`, commits it to the repository and then
  // records it in the catalog (the catalog is an index of the repository, written second).
  [[nodiscard]] virtual absl::StatusOr<catalog::BackupRecord> Backup(
      const common::ClusterConfig& cluster, const std::string& backup_id,
      catalog::BackupRecord::CreationType type, const TaskContext& task) = 0;

  // Restores `backup` into the servers of `target`, to `point_in_time` when given (engines with
  // a journal), else to the backup's own consistent point. `engine_options`: the request's
  // restore_options as the engine defines them (serialized; empty: the whole backup).
  [[nodiscard]] virtual absl::Status Restore(const catalog::BackupRecord& backup,
                                             const common::ClusterConfig& target,
                                             const TaskContext& task,
                                             std::optional<absl::Time> point_in_time = std::nullopt,
                                             const std::string& engine_options = "") = 0;

  // Removes the backup from the catalog and the repository, then collects its data. A GC that
  // cannot run now (a backup is being written) is left to the next one; the backup is gone.
  [[nodiscard]] virtual absl::Status Delete(const std::string& backup_id) = 0;

  // Whether backups of `engine` can be restored to a point in time (through a journal).
  virtual bool RestoresToPointInTime(common::Engine engine) = 0;

  virtual bool has_repository() const = 0;

  // Whether the repository answers (its config object is there), for /readyz; a
  // FAILED_PRECONDITION when none is configured.
  virtual absl::Status ProbeRepository() = 0;

  // What the last pre-flight check of the cluster's hosts found (the contract's Cluster.health);
  // nullopt before this process checked it (it checks before each backup).
  virtual std::optional<HostsProbe> LastProbe(const std::string& cluster_id) {
    return std::nullopt;
  }

  // The moments a restore of the cluster's backups reaches (ops/recovery_window.h).
  virtual absl::StatusOr<RecoveryWindow> RecoveryWindowOf(const common::ClusterConfig& cluster) {
    return absl::FailedPreconditionError("no repository is configured");
  }
};

}  // namespace mdb::ops
