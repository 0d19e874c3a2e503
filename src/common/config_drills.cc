// server.drills and each cluster's `drill` section (docs/configuration.md "Restore drills").
#include "common/config_yaml.h"
#include "common/status.h"

namespace mdb::common {

absl::Status YamlReader::ParseDrills(const YAML::Node& n, DrillsConfig* out) const {
  const std::string w = "server.drills";
  RETURN_IF_ERROR(CheckKeys(n, {"max_concurrent", "work_dir", "run_as", "memory_mb", "binaries"},
                            "'" + w + "'"));
  ASSIGN_OR_RETURN(out->max_concurrent, Int(n, "max_concurrent", 1, 1, 16, w));
  ASSIGN_OR_RETURN(out->work_dir, String(n, "work_dir", false, w));
  ASSIGN_OR_RETURN(out->run_as, String(n, "run_as", false, w));
  ASSIGN_OR_RETURN(out->memory_mb, Int(n, "memory_mb", 0, 0, 1 << 22, w));
  if (YAML::Node b = n["binaries"]) {
    if (!b.IsMap()) return Error(b, w + ": 'binaries' must map an engine name to a path");
    for (const auto& kv : b) {
      const std::string engine = kv.first.as<std::string>();
      if (!kv.second.IsScalar() || kv.second.as<std::string>().empty() ||
          kv.second.as<std::string>()[0] != '/') {
        return Error(kv.second,
                     absl::StrCat(w, ": binaries of '", engine, "' must be an absolute path"));
      }
      out->binaries[engine] = kv.second.as<std::string>();
    }
  }
  if (!out->work_dir.empty() && out->work_dir[0] != '/') {
    return Error(n["work_dir"], w + ": 'work_dir' must be an absolute path");
  }
  return absl::OkStatus();
}

absl::Status YamlReader::ParseDrill(const YAML::Node& n, const std::string& where,
                                    DrillConfig* out) const {
  const std::string w = where + " drill";
  RETURN_IF_ERROR(
      CheckKeys(n, {"every_backups", "every_days", "oldest_every", "target"}, "'" + w + "'"));
  ASSIGN_OR_RETURN(out->every_backups, Int(n, "every_backups", 0, 0, 10000, w));
  ASSIGN_OR_RETURN(out->every_days, Int(n, "every_days", 0, 0, 3650, w));
  ASSIGN_OR_RETURN(out->oldest_every, Int(n, "oldest_every", 4, 0, 10000, w));
  ASSIGN_OR_RETURN(std::string target, String(n, "target", false, w));
  if (!target.empty()) out->target = target;
  if (!out->enabled()) {
    return Error(n, w + ": set 'every_backups' or 'every_days' (or remove the section)");
  }
  return absl::OkStatus();
}

}  // namespace mdb::common
