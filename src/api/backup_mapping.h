// Maps the engine-neutral catalog record to any engine's public Backup message.
#pragma once

#include "absl/status/status.h"
#include "catalog/catalog.h"
#include "google/protobuf/message.h"

namespace mdb::api {

// Fills `out`, the Backup message of `record.engine()`'s API package. Fields are matched by name:
// every engine's contract names them as the record does, save the few in backup_mapping.cc's
// alias list (the contract's `size_bytes` for the record's `size`, ...); a record field the
// message lacks is not shown. What only one engine has comes from `record.engine_fields()`, a
// message of that engine's Backup type its driver filled (as WAL-G's GenericMetadata.UserData),
// overlaid by the record's own fields. Repeated fields are cut to the contract's `size` bound.
// engine_fields of another type than `out`, or unreadable, are left out (and logged): one bad
// record never fails a listing. Fields 13/14 of records older than engine_fields (OpenSearch's
// indices and version) are shown as they were.
absl::Status ToApiBackup(const catalog::BackupRecord& record, google::protobuf::Message* out);

}  // namespace mdb::api
