// The built-in engines: the one list a new engine adds its row to (as restic's
// internal/backend/all/all.go lists its backends).
#pragma once

#include <vector>

#include "engine/registry.h"

namespace mdb::engine {

// The rows of the engines built into mdb-backupd and mdb-backup, in the order lists show them.
std::vector<EngineModule> BuiltInModules();
// The registry of those rows, built once.
const EngineRegistry& BuiltInEngines();

}  // namespace mdb::engine
