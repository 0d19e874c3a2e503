// The restore point a backup ends with: the one position on every segment that a point-in-time
// restore "to the backup" and a later restore from its journal start from.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "engine/greenplum/wal_names.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::greenplum {

// The positions gp_create_restore_point's rows give (segment_id, restore_lsn), by content id.
// Every segment of `contents` must have exactly one row and no other may appear: a cut that
// misses a segment, or names one the backup does not hold, is no cut of this backup.
absl::StatusOr<std::map<int, Lsn>> CutFromRows(
    const std::vector<std::pair<std::string, std::string>>& rows, const std::vector<int>& contents);

// Makes the restore point named `meta->restore_point()` on every shard of `meta` (whose shards
// are `cluster`'s, in order) and records each position and the method in `meta`. With a layout
// read from the coordinator and a coordinator that has gp_create_restore_point, one call there
// makes it on every segment at once; otherwise pg_create_restore_point runs segment by segment.
// Each segment's WAL is then switched, so that the archiver commits the point's segment now.
absl::Status MakeRestorePoint(const common::ClusterConfig& cluster, mdb_backup::v1::PgBackup* meta,
                              const std::atomic<bool>* cancelled);

}  // namespace mdb::engine::greenplum
