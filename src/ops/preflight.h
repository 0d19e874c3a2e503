// The pre-flight check of a declared cluster (engine::Driver::Check), shared by
// `mdb-backup cluster check` and the start of every backup.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/config.h"
#include "engine/engine.h"
#include "engine/registry.h"
#include "ops/backup_jobs.h"

namespace mdb::ops {

// The driver's findings for the cluster (empty for engines without checks).
absl::StatusOr<std::vector<engine::CheckItem>> CheckCluster(const engine::EngineRegistry& engines,
                                                            const common::ClusterConfig& cluster,
                                                            const std::atomic<bool>* cancelled);

// OK unless a server answered that a requirement is missing; then FAILED_PRECONDITION naming
// each such failure and its fix, for an operation's error ("cluster 'x' is not ready: ...").
// Servers that could not be asked are left to the backup, whose own error says what happened.
absl::Status RefuseFailedChecks(const common::ClusterConfig& cluster,
                                const std::vector<engine::CheckItem>& items);

// The health of the cluster's hosts from the findings: alive when every host answered, dead when
// none did, degraded in between; unknown for engines without checks.
HostsProbe::Health HealthOf(const std::vector<engine::CheckItem>& items);

}  // namespace mdb::ops
