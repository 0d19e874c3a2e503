// The MongoDB row of the engine table (engine/all.cc).
#include "engine/mongodb/mongo_engine.h"
#include "yandex/cloud/mdb/mongodb/v1/backup_service.pb.h"
#include "yandex/cloud/mdb/mongodb/v1/cluster_service.pb.h"

namespace mdb::engine::mongodb {

EngineModule Module() {
  namespace api = yandex::cloud::mdb::mongodb::v1;
  return {.info = {.engine = common::Engine::MONGODB,
                   .name = "mongodb",
                   .rest_prefix = "/managed-mongodb/v1",
                   .endpoint_id = "managed-mongodb",
                   .api_services =
                       &common::ApiServicesOf<api::GetBackupRequest, api::BackupClusterRequest>,
                   .host_options = {"auth_source", "discover_shards", "password", "password_file",
                                    "user", "users"},
                   .local_drills = true},
          .make_driver = [] { return std::make_unique<MongoDriver>(); }};
}

}  // namespace mdb::engine::mongodb
