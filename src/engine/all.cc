#include "engine/all.h"

#include <cstdio>
#include <cstdlib>

#include "engine/greenplum/greenplum_engine.h"
#include "engine/mongodb/mongo_engine.h"
#include "engine/opensearch/opensearch_engine.h"
#include "engine/redis/redis_engine.h"

namespace mdb::engine {

std::vector<EngineModule> BuiltInModules() {
  return {
      greenplum::Module(),
      mongodb::Module(),
      redis::Module(),
      opensearch::Module(),
  };
}

const EngineRegistry& BuiltInEngines() {
  static const EngineRegistry* registry = [] {
    auto made = EngineRegistry::Make(BuiltInModules());
    if (!made.ok()) {  // a wiring mistake in the rows above; every test run would show it
      fprintf(stderr, "mdb: %s\n", std::string(made.status().message()).c_str());
      abort();
    }
    return new EngineRegistry(*std::move(made));
  }();
  return *registry;
}

}  // namespace mdb::engine
