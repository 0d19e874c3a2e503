// The OpenSearch row of the engine table (engine/all.cc).
#include "engine/opensearch/opensearch_engine.h"
#include "yandex/cloud/mdb/opensearch/v1/backup_service.pb.h"
#include "yandex/cloud/mdb/opensearch/v1/cluster_service.pb.h"

namespace mdb::engine::opensearch {

EngineModule Module() {
  namespace api = yandex::cloud::mdb::opensearch::v1;
  return {.info = {.engine = common::Engine::OPENSEARCH,
                   .name = "opensearch",
                   .rest_prefix = "/managed-opensearch/v1",
                   .endpoint_id = "managed-opensearch",
                   .api_services =
                       &common::ApiServicesOf<api::GetBackupRequest, api::BackupClusterRequest>,
                   .host_options = {"password", "password_file", "repository", "repository_path",
                                    "scheme", "user"},
                   .local_drills = true,
                   .stall_timeout_seconds = 24 * 3600},  // os_http.h kLongCall
          .make_driver = [] { return std::make_unique<OpenSearchDriver>(); }};
}

}  // namespace mdb::engine::opensearch
