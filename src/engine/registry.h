// The engine table with its drivers, built once at start-up from rows (engine/all.h lists the
// built-in ones) and passed to ops; the driver-free half (table()) goes to config parsing, the
// API and the CLI.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/engines.h"
#include "engine/engine.h"

namespace mdb::engine {

class EngineRegistry {
 public:
  // As common::EngineTable::Make; a row without a driver factory is refused too.
  static absl::StatusOr<EngineRegistry> Make(std::vector<EngineModule> modules);

  const common::EngineTable& table() const { return table_; }
  // A fresh driver for `engine`, or NotFound naming it when the table has no such row.
  absl::StatusOr<std::unique_ptr<Driver>> MakeDriver(common::Engine engine) const;

 private:
  EngineRegistry(std::vector<EngineModule> modules, common::EngineTable table)
      : modules_(std::move(modules)), table_(std::move(table)) {}
  std::vector<EngineModule> modules_;
  common::EngineTable table_;
};

}  // namespace mdb::engine
