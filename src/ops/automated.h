// The daily AUTOMATED backup policy: a backup of the cluster, then (after a successful one only)
// its retention, as one Operation. The scheduler (ops/scheduler.h) calls Start at the cluster's
// window; the API layer only says what the Operation looks like to clients (its metadata and
// response types are the public API's), through `describe`.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "common/config.h"
#include "google/protobuf/any.pb.h"
#include "ops/operation_runner.h"
#include "ops/scheduler.h"
#include "repo/repository.h"

namespace mdb::ops {

class Jobs;

// The Operation's public shape for a backup of `cluster` with id `backup_id`.
struct BackupOperationShape {
  google::protobuf::Any metadata;  // the engine's BackupClusterMetadata
  google::protobuf::Any response;  // the engine's Cluster
};
using DescribeBackup = std::function<absl::StatusOr<BackupOperationShape>(
    const common::ClusterConfig& cluster, const std::string& backup_id)>;

class AutomatedBackups {
 public:
  AutomatedBackups(OperationRunner* runner, Jobs* jobs, DescribeBackup describe)
      : runner_(runner), jobs_(jobs), describe_(std::move(describe)) {}

  // Starts the cluster's AUTOMATED backup and retention as an Operation created by "scheduler".
  // FailedPrecondition without a repository or while a backup of the cluster runs.
  absl::StatusOr<Operation> Start(const common::ClusterConfig& cluster);

 private:
  OperationRunner* runner_;
  Jobs* jobs_;
  DescribeBackup describe_;
};

// How the operation `operation_id` ended, from the catalog (any instance may have run it), for
// the scheduler's retries: an error is kFailed, except a cancellation, which a person asked for,
// and a failure after its backup was committed (that backup is the window's). A backup committed
// to `repository` (may be null) whose catalog record failed is listed here, as a restart's
// reconcile would list it: else it stayed unseen, and the retry doubled the day's backup.
Scheduler::Outcome OperationOutcome(catalog::Catalog* catalog, repo::Repository* repository,
                                    const std::string& operation_id);

}  // namespace mdb::ops
