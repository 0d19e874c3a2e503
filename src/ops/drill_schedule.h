// When restore drills run by themselves: per cluster with a `drill` section, after every Nth
// backup and/or when its newest drill is older than N days (config.h DrillConfig). Each tick
// (one instance at a time per cluster, by lease) queues at most one drill per cluster, and none
// while one of the cluster's drills is still queued or running. API-started drills
// (RecoveryService. DrillBackup) are queued through Queue too.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "catalog/catalog.h"
#include "common/config.h"
#include "ops/leases.h"
#include "ops/operation_runner.h"

namespace mdb::ops {

// The backup a due drill takes: the newest, or, every `oldest_every`th drill, the oldest one
// kept (its restore exercises the longest chain of ancestors and journal).
struct DrillPick {
  std::string backup_id;
  bool oldest = false;
};

// Whether a drill of the cluster is due at `now`, given its backups newest first (a page:
// enough to hold the newest drills). Pure.
std::optional<DrillPick> DueDrill(const common::DrillConfig& drill,
                                  const std::vector<catalog::BackupRecord>& backups,
                                  absl::Time now);

// Queues a drill of `backup` into `target` ("local" or a scratch cluster's id) as an Operation
// of the backup's cluster, created by `created_by`.
absl::StatusOr<Operation> QueueDrill(OperationRunner* runner, const catalog::BackupRecord& backup,
                                     const std::string& target, const std::string& created_by);

// Whether one of the cluster's drills is queued or running (on any instance).
absl::StatusOr<bool> DrillPending(catalog::Catalog* catalog, const std::string& cluster_id);

class DrillSchedule {
 public:
  DrillSchedule(catalog::Catalog* catalog, OperationRunner* runner, Leases* leases)
      : catalog_(catalog), runner_(runner), leases_(leases) {}
  // One pass over the clusters of `config`.
  void Tick(const common::Config& config, absl::Time now);

 private:
  catalog::Catalog* catalog_;
  OperationRunner* runner_;
  Leases* leases_;
  // When this instance last queued a drill of each cluster: a drill that ends without a result
  // (cancelled, the repository away) is not queued again at the next tick, but an hour later.
  std::map<std::string, absl::Time> queued_;
};

}  // namespace mdb::ops
