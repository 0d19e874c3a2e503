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
                   // (gp_content, gp_promoted and pg_options are set by segment discovery only.)
                   .host_options = {"data_dir", "dbname", "discover_segments", "password",
                                    "password_file", "segments_refresh_seconds", "socket_dir",
                                    "user", "wal_archive", "wal_slot"},
                   .local_drills = true},
          .make_driver = [] { return std::make_unique<GreenplumDriver>(); }};
}

}  // namespace mdb::engine::greenplum
