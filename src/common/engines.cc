#include "common/engines.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace mdb::common {

absl::StatusOr<EngineTable> EngineTable::Make(std::vector<EngineInfo> rows) {
  std::set<std::string> seen;
  for (const EngineInfo& row : rows) {
    std::string label = absl::StrCat("engine row '", std::string(row.name), "'");
    auto services = row.api_services ? row.api_services()
                                     : std::vector<const google::protobuf::ServiceDescriptor*>{};
    if (services.empty() || std::find(services.begin(), services.end(), nullptr) != services.end())
      return absl::InvalidArgumentError(label + " has no public services");
    for (const std::string& key : {absl::StrCat("id ", static_cast<int>(row.engine)),
                                   absl::StrCat("name ", std::string(row.name)),
                                   absl::StrCat("package ", std::string(Package(row))),
                                   absl::StrCat("REST prefix ", std::string(row.rest_prefix)),
                                   absl::StrCat("endpoint ", std::string(row.endpoint_id))}) {
      if (!seen.insert(key).second) {
        return absl::InvalidArgumentError(absl::StrCat(label, " repeats the ", key));
      }
    }
  }
  return EngineTable(std::move(rows));
}

const EngineInfo* EngineTable::Find(Engine engine) const {
  for (const auto& e : rows_) {
    if (e.engine == engine) return &e;
  }
  return nullptr;
}

const EngineInfo* EngineTable::FindByPackage(std::string_view package) const {
  for (const auto& e : rows_) {
    if (Package(e) == package) return &e;
  }
  return nullptr;
}

std::string_view EngineTable::Package(const EngineInfo& row) {
  return row.api_services().front()->file()->package();
}

std::vector<const google::protobuf::ServiceDescriptor*> EngineTable::Services() const {
  std::vector<const google::protobuf::ServiceDescriptor*> out;
  for (const auto& e : rows_) {
    for (const auto* s : e.api_services()) out.push_back(s);
  }
  return out;
}

absl::StatusOr<Engine> EngineTable::Parse(std::string_view name) const {
  std::string names;
  for (const auto& e : rows_) {
    if (e.name == name) return e.engine;
    absl::StrAppend(&names, names.empty() ? "" : ", ", std::string(e.name));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown engine '", std::string(name), "' (expected one of: ", names, ")"));
}

std::string EngineTable::Name(Engine engine) const {
  const EngineInfo* e = Find(engine);
  return e ? std::string(e->name) : "unspecified";
}

}  // namespace mdb::common
