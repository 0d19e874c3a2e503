// The engines this build serves, one row each: what is engine-specific outside the engine's own
// folder (its driver is listed in engine/registry.cc, its API fields in api/backup_mapping.cc) is
// read from this table: its name in configs, the CLI and repository manifests; its public API
// package; its REST prefix; the service id the official SDKs look its endpoint up by.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mdb_backup/v1/records.pb.h"

namespace mdb::common {

using Engine = ::mdb_backup::v1::Engine;

struct EngineInfo {
  Engine engine;
  std::string_view name;         // "redis"
  std::string_view api_package;  // "yandex.cloud.mdb.redis.v1"
  std::string_view rest_prefix;  // "/managed-redis/v1"
  std::string_view endpoint_id;  // "managed-redis"
};

// Every engine, in a fixed order (the order of lists shown to people).
const std::vector<EngineInfo>& AllEngines();
// The row of `engine`, or nullptr.
const EngineInfo* FindEngine(Engine engine);
// The row whose public API package is `package`, or nullptr.
const EngineInfo* FindEngineByPackage(std::string_view package);

// "greenplum" <-> Engine; the lowercase names used in config files and the CLI.
absl::StatusOr<Engine> ParseEngine(std::string_view name);
std::string EngineName(Engine engine);  // "unspecified" for a value without a row

}  // namespace mdb::common
