// For unit tests below the engine layer (config, api, rest): an engine table with the public
// rows of the four built-in engines and no drivers. The real table is engine/all.cc's, which these
// layers may not include; the one-row test (server/engine_row_test.cc) runs on that one.
#pragma once

#include "common/engines.h"
#include "yandex/cloud/mdb/greenplum/v1/backup_service.pb.h"
#include "yandex/cloud/mdb/greenplum/v1/cluster_service.pb.h"
#include "yandex/cloud/mdb/mongodb/v1/backup_service.pb.h"
#include "yandex/cloud/mdb/mongodb/v1/cluster_service.pb.h"
#include "yandex/cloud/mdb/opensearch/v1/backup_service.pb.h"
#include "yandex/cloud/mdb/opensearch/v1/cluster_service.pb.h"
#include "yandex/cloud/mdb/redis/v1/backup_service.pb.h"
#include "yandex/cloud/mdb/redis/v1/cluster_service.pb.h"

namespace mdb::common {

inline const EngineTable& TestEngines() {
  namespace gp = yandex::cloud::mdb::greenplum::v1;
  namespace mg = yandex::cloud::mdb::mongodb::v1;
  namespace rd = yandex::cloud::mdb::redis::v1;
  namespace os = yandex::cloud::mdb::opensearch::v1;
  static const auto* table = new EngineTable(*EngineTable::Make({
      {Engine::GREENPLUM,
       "greenplum",
       "/managed-greenplum/v1",
       "managed-greenplum",
       &ApiServicesOf<gp::GetBackupRequest, gp::BackupClusterRequest>,
       {"data_dir", "dbname", "password", "password_file", "socket_dir", "user", "wal_archive",
        "wal_slot"},
       /*local_drills=*/true},
      {Engine::MONGODB,
       "mongodb",
       "/managed-mongodb/v1",
       "managed-mongodb",
       &ApiServicesOf<mg::GetBackupRequest, mg::BackupClusterRequest>,
       {"auth_source", "password", "password_file", "user"},
       /*local_drills=*/true},
      {Engine::REDIS,
       "redis",
       "/managed-redis/v1",
       "managed-redis",
       &ApiServicesOf<rd::GetBackupRequest, rd::BackupClusterRequest>,
       {"max_lag_bytes", "password", "password_file", "user"},
       /*local_drills=*/true},
      {Engine::OPENSEARCH,
       "opensearch",
       "/managed-opensearch/v1",
       "managed-opensearch",
       &ApiServicesOf<os::GetBackupRequest, os::BackupClusterRequest>,
       {"password", "password_file", "repository", "repository_path", "scheme", "user"},
       // Unlike the real one (engine/opensearch): the config's rule for an engine without
       // throwaway servers of its own is tested with this row.
       /*local_drills=*/false,
       /*stall_timeout_seconds=*/24 * 3600},
  }));
  return *table;
}

}  // namespace mdb::common
