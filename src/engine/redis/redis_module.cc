// The Redis row of the engine table (engine/all.cc).
#include "engine/redis/redis_engine.h"
#include "yandex/cloud/mdb/redis/v1/backup_service.pb.h"
#include "yandex/cloud/mdb/redis/v1/cluster_service.pb.h"

namespace mdb::engine::redis {

EngineModule Module() {
  namespace api = yandex::cloud::mdb::redis::v1;
  return {.info = {.engine = common::Engine::REDIS,
                   .name = "redis",
                   .rest_prefix = "/managed-redis/v1",
                   .endpoint_id = "managed-redis",
                   .api_services =
                       &common::ApiServicesOf<api::GetBackupRequest, api::BackupClusterRequest>,
                   .host_options = {"max_lag_bytes", "password", "password_file", "user"},
                   .local_drills = true,
                   .stall_timeout_seconds = 3 * 3600},  // a disk-based BGSAVE of hundreds of GB
          .make_driver = [] { return std::make_unique<RedisDriver>(); }};
}

}  // namespace mdb::engine::redis
