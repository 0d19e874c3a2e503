#include "cli/cluster_check.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/config.h"
#include "engine/all.h"
#include "ops/preflight.h"

namespace mdb::cli {

std::string FormatCheck(const std::string& cluster_id, const std::string& engine,
                        bool restore_target, const std::vector<engine::CheckItem>& items) {
  using Level = engine::CheckItem::Level;
  std::string out = absl::StrCat("cluster ", cluster_id, " (", engine,
                                 restore_target ? ", restore target" : "", ")\n");
  if (items.empty()) {
    return absl::StrCat(out, "  this engine has no pre-flight checks: a backup will tell\n");
  }
  size_t where_w = 0, what_w = 0;
  for (const auto& i : items) {
    where_w = std::max(where_w, i.where.size());
    what_w = std::max(what_w, i.what.size());
  }
  int failed = 0, warned = 0;
  for (const auto& i : items) {
    const char* mark = i.level == Level::kOk ? "ok" : i.level == Level::kWarning ? "WARN" : "FAIL";
    failed += i.level == Level::kFailed;
    warned += i.level == Level::kWarning;
    absl::StrAppend(&out, absl::StrFormat("  %-4s  %-*s  %-*s  %s\n", mark, where_w, i.where,
                                          what_w, i.what, i.detail));
    if (i.level != Level::kOk && !i.fix.empty()) {
      absl::StrAppend(&out, "        fix: ", i.fix, "\n");
    }
  }
  const char* op = restore_target ? "a restore into it" : "a backup";
  if (failed) {
    absl::StrAppend(&out, failed, " failed, ", warned, " warnings: ", op,
                    " would be refused until the fixes above are applied\n");
  } else {
    absl::StrAppend(&out, warned ? absl::StrCat(warned, " warnings; ") : "", "ready for ", op,
                    "\n");
  }
  return out;
}

int CheckCluster(const std::string& config_path, const std::string& cluster_id) {
  const auto& engines = engine::BuiltInEngines();
  auto config = common::LoadConfig(config_path, engines.table());
  if (!config.ok()) {
    std::cerr << "mdb-backup: " << config.status().message() << "\n";
    return 1;
  }
  const common::ClusterConfig* cluster = config->FindCluster(cluster_id);
  if (!cluster) {
    std::cerr << "mdb-backup: no cluster '" << cluster_id << "' is declared in " << config_path
              << "\n";
    return 1;
  }
  std::atomic<bool> never{false};
  auto items = ops::CheckCluster(engines, *cluster, &never);
  if (!items.ok()) {
    std::cerr << "mdb-backup: " << items.status().message() << "\n";
    return 1;
  }
  std::cout << FormatCheck(cluster->id, engines.table().Name(cluster->engine),
                           cluster->restore_target, *items);
  for (const auto& i : *items) {
    if (i.level == engine::CheckItem::Level::kFailed) return 1;
  }
  return 0;
}

}  // namespace mdb::cli
