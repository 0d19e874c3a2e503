// The Greenplum row of the engine table (engine/all.cc).
#include "engine/greenplum/greenplum_engine.h"
#include "yandex/cloud/mdb/greenplum/v1/backup_service.pb.h"
#include "yandex/cloud/mdb/greenplum/v1/cluster_service.pb.h"

namespace mdb::engine::greenplum {

EngineModule Module() {
  namespace api = yandex::cloud::mdb::greenplum::v1;
  return {.info = {.engine = common::Engine::GREENPLUM,
                   .name = "greenplum",
                   .rest_prefix = "/managed-greenplum/v1",
                   .endpoint_id = "managed-greenplum",
                   .api_services =
                       &common::ApiServicesOf<api::GetBackupRequest, api::BackupClusterRequest>,
                   .host_options = {"data_dir", "dbname", "password", "password_file", "socket_dir",
                                    "user", "wal_archive", "wal_slot"},
                   .local_drills = true},
          .make_driver = [] { return std::make_unique<GreenplumDriver>(); }};
}

}  // namespace mdb::engine::greenplum
