#include "ops/drill_schedule.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "common/time_util.h"
#include "mdb_backup/v1/recovery_service.pb.h"

namespace mdb::ops {

std::optional<DrillPick> DueDrill(const common::DrillConfig& drill,
                                  const std::vector<catalog::BackupRecord>& backups,
                                  absl::Time now) {
  if (!drill.enabled() || backups.empty()) return std::nullopt;
  // The newest drill of any of the backups, passed or not (a failing one is not retried at each
  // tick: the next backup, or the next period, brings the next drill).
  absl::Time last = absl::InfinitePast();
  int drilled = 0;
  for (const auto& b : backups) {
    if (!b.has_verification()) continue;
    ++drilled;
    last = std::max(last, common::FromProto(b.verification().verified_at()));
  }
  int since = 0;  // backups completed after the newest drill
  for (const auto& b : backups) since += common::FromProto(b.created_at()) > last ? 1 : 0;
  const bool by_count = drill.every_backups > 0 && since >= drill.every_backups;
  const bool by_age = drill.every_days > 0 && now - last >= absl::Hours(24) * drill.every_days;
  if (!by_count && !by_age) return std::nullopt;
  const bool oldest = drill.oldest_every > 0 && (drilled + 1) % drill.oldest_every == 0;
  return DrillPick{.backup_id = oldest ? backups.back().id() : backups.front().id(),
                   .oldest = oldest};
}

absl::StatusOr<Operation> QueueDrill(OperationRunner* runner, const catalog::BackupRecord& backup,
                                     const std::string& target, const std::string& created_by) {
  ::mdb_backup::v1::DrillBackupMetadata metadata;
  metadata.set_backup_id(backup.id());
  metadata.set_cluster_id(backup.cluster_id());
  metadata.set_target(target);
  ::mdb_backup::v1::OperationTask task;
  task.mutable_drill()->set_backup_id(backup.id());
  task.mutable_drill()->set_target(target);
  OperationSpec spec{
      .description = absl::StrCat("Drill of backup '", backup.id(), "' (", target, ")"),
      .created_by = created_by,
      .folder_id = backup.folder_id(),
      .cluster_id = backup.cluster_id(),
      .metadata = {}};
  spec.metadata.PackFrom(metadata);
  return runner->Start(spec, task.SerializeAsString());
}

absl::StatusOr<bool> DrillPending(catalog::Catalog* catalog, const std::string& cluster_id) {
  ASSIGN_OR_RETURN(auto page,
                   catalog->ListClusterOperations({.cluster_id = cluster_id, .page_size = 50}));
  for (const auto& op : page.operations) {
    if (op.operation.done()) continue;
    ::mdb_backup::v1::OperationTask task;
    if (task.ParseFromString(op.request) && task.has_drill()) return true;
  }
  return false;
}

void DrillSchedule::Tick(const common::Config& config, absl::Time now) {
  for (const auto& cluster : config.clusters) {
    if (!cluster.drill.enabled() || cluster.restore_target) continue;
    if (auto q = queued_.find(cluster.id); q != queued_.end() && now - q->second < absl::Hours(1)) {
      continue;
    }
    auto warn = [&](const absl::Status& st) {
      common::Log(common::LogLevel::kWarning, "drill",
                  absl::StrCat("drill of cluster '", cluster.id, "' not queued: ", st.message()));
    };
    // One instance decides for the cluster at a time; the lease outlives a tick, not a drill
    // (a pending drill is seen in the catalog).
    auto held = leases_->Hold(absl::StrCat("drill/", cluster.id), absl::Minutes(2));
    if (!held.ok() || !*held) continue;
    // The backups of its folder, as the API lists them (ListVerifications shows the drills).
    auto page = catalog_->ListBackups({.engine = cluster.engine,
                                       .folder_id = cluster.folder_id,
                                       .cluster_id = cluster.id,
                                       .page_size = 200});
    if (!page.ok()) {
      warn(page.status());
      continue;
    }
    std::optional<DrillPick> due = DueDrill(cluster.drill, page->backups, now);
    if (!due) continue;
    auto pending = DrillPending(catalog_, cluster.id);
    if (!pending.ok() || *pending) continue;
    for (const auto& b : page->backups) {
      if (b.id() != due->backup_id) continue;
      auto op = QueueDrill(runner_, b, cluster.drill.target, "scheduler");
      queued_[cluster.id] = now;
      if (!op.ok()) {
        warn(op.status());
      } else {
        common::Log(
            common::LogLevel::kInfo, "drill",
            absl::StrCat("drill of backup '", b.id(), "' of cluster '", cluster.id,
                         "' queued (operation ", op->id(), due->oldest ? ", oldest" : "", ")"));
      }
    }
  }
}

}  // namespace mdb::ops
