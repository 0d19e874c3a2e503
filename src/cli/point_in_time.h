// Point-in-time restore from the CLI: the time a person types, the engine's request field that
// carries it (read from the engine's RestoreClusterRequest, not spelled per engine), and the
// backup a restore to that time starts from when none is named.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/engines.h"

namespace mdb::cli {

// RFC 3339 ("2026-12-04T05:00:00Z", "2026-12-04T08:00:00.25+03:00"), or a local time with its
// zone: "2026-12-04 08:00:00 +03:00" or "2026-12-04 08:00:00 Europe/Moscow". InvalidArgument,
// saying which forms are accepted, for anything else: a time without a zone is ambiguous.
absl::StatusOr<absl::Time> ParsePointInTime(const std::string& text);

// `latest` of a RecoveryService.GetRecoveryWindow reply (REST JSON), exactly as the server gave
// it: the last archived transaction. FailedPrecondition when the cluster has no such moment
// (no backup yet, or an engine whose backups restore to their own point only).
absl::StatusOr<absl::Time> LatestOfWindow(const std::string& window_json);

// The JSON member (`"name":value`) of the engine's RestoreClusterRequest that asks for `t`:
// Greenplum's `time` (a Timestamp), MongoDB's `recoveryTargetSpec.timestamp` (seconds; a time
// with a fraction is refused rather than rounded). InvalidArgument for an engine whose backups
// restore only to their own consistent point.
absl::StatusOr<std::string> PointInTimeMember(const common::EngineInfo& engine, absl::Time t);

// What part of a backup a restore brings back (`backup restore --indices ... --rename-pattern
// ... --global-state`): the engine's own restore options.
struct RestoreScope {
  std::vector<std::string> indices;
  std::string rename_pattern, rename_replacement;
  bool global_state = false;
  bool empty() const {
    return indices.empty() && rename_pattern.empty() && rename_replacement.empty() && !global_state;
  }
};

// The JSON member (`"restoreOptions":{...}`) of the engine's RestoreClusterRequest for `scope`:
// mdb-backup's extension, read from the request's descriptor. InvalidArgument for an engine
// whose request has no such options (only OpenSearch restores part of a backup).
absl::StatusOr<std::string> RestoreOptionsMember(const common::EngineInfo& engine,
                                                 const RestoreScope& scope);

// From one page of the engine's ClusterService.ListBackups (REST JSON, newest first): the id of
// the newest backup completed at or before `t`, or nullopt when this page has none; the page's
// next token in `next_page_token` (empty on the last page).
absl::StatusOr<std::optional<std::string>> NewestBackupBefore(const common::EngineInfo& engine,
                                                              const std::string& list_json,
                                                              absl::Time t,
                                                              std::string* next_page_token);

}  // namespace mdb::cli
