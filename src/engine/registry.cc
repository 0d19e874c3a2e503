#include "engine/registry.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace mdb::engine {

absl::StatusOr<EngineRegistry> EngineRegistry::Make(std::vector<EngineModule> modules) {
  std::vector<common::EngineInfo> rows;
  for (const EngineModule& m : modules) {
    if (!m.make_driver) {
      return absl::InvalidArgumentError(
          absl::StrCat("engine row '", std::string(m.info.name), "' has no driver"));
    }
    rows.push_back(m.info);
  }
  ASSIGN_OR_RETURN(common::EngineTable table, common::EngineTable::Make(std::move(rows)));
  return EngineRegistry(std::move(modules), std::move(table));
}

absl::StatusOr<std::unique_ptr<Driver>> EngineRegistry::MakeDriver(common::Engine engine) const {
  for (const EngineModule& m : modules_) {
    if (m.info.engine == engine) return m.make_driver();
  }
  return absl::NotFoundError(
      absl::StrCat("no engine with id ", static_cast<int>(engine), " is built into this binary"));
}

}  // namespace mdb::engine
