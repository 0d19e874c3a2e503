#include "ops/preflight.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace mdb::ops {

absl::StatusOr<std::vector<engine::CheckItem>> CheckCluster(const engine::EngineRegistry& engines,
                                                            const common::ClusterConfig& cluster,
                                                            const std::atomic<bool>* cancelled) {
  auto driver = engines.MakeDriver(cluster.engine);
  if (!driver.ok()) return driver.status();
  return (*driver)->Check(cluster, cancelled);
}

absl::Status RefuseFailedChecks(const common::ClusterConfig& cluster,
                                const std::vector<engine::CheckItem>& items) {
  std::string failed;
  for (const auto& item : items) {
    // The backup reports a server it cannot talk to itself (UNAVAILABLE, DATA_LOSS...).
    if (item.level != engine::CheckItem::Level::kFailed || item.unreachable) continue;
    absl::StrAppend(&failed, failed.empty() ? "" : "; ", item.where, ": ", item.what, ": ",
                    item.detail, item.fix.empty() ? "" : " (fix: ", item.fix,
                    item.fix.empty() ? "" : ")");
  }
  if (failed.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("cluster '", cluster.id, "' is not ready: ", failed,
                   " (mdb-backup cluster check ", cluster.id, " lists every requirement)"));
}

HostsProbe::Health HealthOf(const std::vector<engine::CheckItem>& items) {
  std::set<std::string> hosts, down;  // by the items' "<shard> <host:port>"
  for (const auto& item : items) {
    if (item.where.empty()) continue;
    hosts.insert(item.where);
    if (item.unreachable) down.insert(item.where);
  }
  if (hosts.empty()) return HostsProbe::Health::kUnknown;
  if (down.empty()) return HostsProbe::Health::kAlive;
  return down.size() == hosts.size() ? HostsProbe::Health::kDead : HostsProbe::Health::kDegraded;
}

}  // namespace mdb::ops
