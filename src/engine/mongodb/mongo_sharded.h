// A sharded MongoDB cluster, backed up and restored through its router (mongo_sharded.cc).
#pragma once

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::mongodb {

absl::StatusOr<BackupResult> BackupSharded(const BackupRequest& req);
absl::Status RestoreSharded(const RestoreRequest& req, const mdb_backup::v1::MongoBackup& meta);

}  // namespace mdb::engine::mongodb
