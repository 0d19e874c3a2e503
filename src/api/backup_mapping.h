// Maps the engine-neutral catalog record to each engine's public Backup message.
#pragma once

#include "absl/status/status.h"
#include "catalog/catalog.h"
#include "google/protobuf/message.h"

namespace mdb::api {

// Fills `out`, which must be the Backup message of `record.engine()`'s API package
// (InternalError otherwise: a wiring bug, not a user error).
absl::Status ToApiBackup(const catalog::BackupRecord& record, google::protobuf::Message* out);

// The public API's limit on listed OpenSearch indices; indices_total still counts all of them.
inline constexpr int kMaxListedIndices = 100;

}  // namespace mdb::api
