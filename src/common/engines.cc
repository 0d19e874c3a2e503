#include "common/engines.h"

#include "absl/strings/str_cat.h"

namespace mdb::common {

const std::vector<EngineInfo>& AllEngines() {
  static const auto* rows = new std::vector<EngineInfo>{
      {Engine::GREENPLUM, "greenplum", "yandex.cloud.mdb.greenplum.v1", "/managed-greenplum/v1",
       "managed-greenplum"},
      {Engine::MONGODB, "mongodb", "yandex.cloud.mdb.mongodb.v1", "/managed-mongodb/v1",
       "managed-mongodb"},
      {Engine::REDIS, "redis", "yandex.cloud.mdb.redis.v1", "/managed-redis/v1", "managed-redis"},
      {Engine::OPENSEARCH, "opensearch", "yandex.cloud.mdb.opensearch.v1", "/managed-opensearch/v1",
       "managed-opensearch"},
  };
  return *rows;
}

const EngineInfo* FindEngine(Engine engine) {
  for (const auto& e : AllEngines()) {
    if (e.engine == engine) return &e;
  }
  return nullptr;
}

const EngineInfo* FindEngineByPackage(std::string_view package) {
  for (const auto& e : AllEngines()) {
    if (e.api_package == package) return &e;
  }
  return nullptr;
}

absl::StatusOr<Engine> ParseEngine(std::string_view name) {
  std::string names;
  for (const auto& e : AllEngines()) {
    if (e.name == name) return e.engine;
    absl::StrAppend(&names, names.empty() ? "" : ", ", std::string(e.name));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown engine '", std::string(name), "' (expected one of: ", names, ")"));
}

std::string EngineName(Engine engine) {
  const EngineInfo* e = FindEngine(engine);
  return e ? std::string(e->name) : "unspecified";
}

}  // namespace mdb::common
