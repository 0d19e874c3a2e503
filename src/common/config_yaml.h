// Reading the config's YAML: typed fields with messages that name the file and line
// (config.cc), shared by the parts of the config parsed in files of their own.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config.h"

namespace mdb::common {

class YamlReader {
 public:
  explicit YamlReader(std::string filename) : filename_(std::move(filename)) {}
  const std::string& filename() const { return filename_; }

  absl::Status Error(const YAML::Node& node, const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(filename_, ":", node.Mark().line + 1, ": ", what));
  }

  // Rejects keys of `node` that are not in `allowed`, and keys given twice: yaml-cpp keeps the
  // first of two silently, so a line added below an old one would not take effect.
  absl::Status CheckKeys(const YAML::Node& node, const std::set<std::string>& allowed,
                         const std::string& where) const {
    if (!node.IsMap()) return Error(node, absl::StrCat(where, " must be a mapping"));
    std::map<std::string, int> seen;  // key -> its line
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      if (auto [it, fresh] = seen.emplace(key, kv.first.Mark().line + 1); !fresh) {
        return Error(kv.first, absl::StrCat("key '", key, "' is given twice in ", where,
                                            " (first at line ", it->second, "): keep one"));
      }
      if (!allowed.count(key)) {
        return Error(kv.first,
                     absl::StrCat("unknown key '", key, "' in ", where,
                                  " (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const YAML::Node& parent, const std::string& key,
                                     bool required, const std::string& where) const {
    YAML::Node n = parent[key];
    if (!n) {
      if (required) return Error(parent, absl::StrCat(where, ": '", key, "' is required"));
      return std::string();
    }
    if (!n.IsScalar()) return Error(n, absl::StrCat(where, ": '", key, "' must be a string"));
    return n.as<std::string>();
  }

  absl::StatusOr<int> Int(const YAML::Node& parent, const std::string& key, int dflt, int min,
                          int max, const std::string& where) const {
    YAML::Node n = parent[key];
    if (!n) return dflt;
    int v;
    if (!n.IsScalar() || !YAML::convert<int>::decode(n, v) || v < min || v > max) {
      return Error(n, absl::StrCat(where, ": '", key, "' must be an integer in ", min, "..", max));
    }
    return v;
  }

  absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& parent,
                                                      const std::string& key,
                                                      const std::string& where) const {
    std::vector<std::string> out;
    YAML::Node n = parent[key];
    if (!n) return out;
    if (!n.IsSequence()) return Error(n, absl::StrCat(where, ": '", key, "' must be a list"));
    for (const auto& item : n) {
      if (!item.IsScalar()) return Error(item, absl::StrCat(where, ": '", key, "' holds strings"));
      out.push_back(item.as<std::string>());
    }
    return out;
  }

  absl::Status Bool(const YAML::Node& parent, const std::string& key, const std::string& where,
                    bool* out) const {
    YAML::Node n = parent[key];
    if (!n) return absl::OkStatus();
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, *out)) {
      return Error(n, absl::StrCat(where, ": '", key, "' must be true or false"));
    }
    return absl::OkStatus();
  }

  // server.drills and a cluster's `drill` (config_drills.cc).
  absl::Status ParseDrills(const YAML::Node& n, DrillsConfig* out) const;
  absl::Status ParseDrill(const YAML::Node& n, const std::string& where, DrillConfig* out) const;

 private:
  std::string filename_;
};

}  // namespace mdb::common
