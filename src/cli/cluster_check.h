// `mdb-backup cluster check ID`: the pre-flight check of a declared cluster, run from this host
// with the daemon's config file (its credentials), as pgbackrest check does; a table of every
// requirement and, under each one not met, the line that fixes it.
#pragma once

#include <string>
#include <vector>

#include "engine/engine.h"

namespace mdb::cli {

// The report as printed: one aligned row per finding ("ok", "WARN", "FAIL"), fixes indented
// under their row, and a last line saying what a backup (or restore) would do.
std::string FormatCheck(const std::string& cluster_id, const std::string& engine,
                        bool restore_target, const std::vector<engine::CheckItem>& items);

// Loads `config_path`, checks cluster `cluster_id`, prints the report. Exit code: 0 when nothing
// failed (warnings allowed), 1 when something did or the check could not run.
int CheckCluster(const std::string& config_path, const std::string& cluster_id);

}  // namespace mdb::cli
