// The engine table: every driver is listed here, explicitly (no static self-registration).
#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/mongodb/mongo_engine.h"
#include "engine/opensearch/opensearch_engine.h"
#include "engine/redis/redis_engine.h"

namespace mdb::engine {

absl::StatusOr<std::unique_ptr<Driver>> MakeDriver(common::Engine engine) {
  switch (engine) {
    case common::Engine::REDIS:
      return std::unique_ptr<Driver>(new redis::RedisDriver());
    case common::Engine::GREENPLUM:
      return std::unique_ptr<Driver>(new greenplum::GreenplumDriver());
    case common::Engine::MONGODB:
      return std::unique_ptr<Driver>(new mongodb::MongoDriver());
    case common::Engine::OPENSEARCH:
      return std::unique_ptr<Driver>(new opensearch::OpenSearchDriver());
    default:
      return absl::UnimplementedError(
          absl::StrCat("backups of ", common::EngineName(engine),
                       " clusters are not available in this build yet"));
  }
}

}  // namespace mdb::engine
