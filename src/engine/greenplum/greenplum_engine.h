// Greenplum and PostgreSQL: a physical BASE backup of every segment (shard) over the replication
// protocol, WAL included, then one restore point created on every segment; restore unpacks each
// segment into a fresh data directory. Greenplum-specific steps (gp_segment_configuration,
// gp_create_restore_point) are not here yet: the live cluster is PostgreSQL 15 shards.
#pragma once

#include "engine/engine.h"

namespace mdb::engine::greenplum {

// Host options: `user` (default postgres), `password` or `password_file`, and for restore
// targets `data_dir`: the empty directory to unpack the segment into (created if absent; files
// take the owner of an existing directory).
class GreenplumDriver final : public Driver {
 public:
  Capabilities capabilities() const override { return {}; }
  absl::StatusOr<BackupResult> Backup(const BackupRequest& request) override;
  absl::Status Restore(const RestoreRequest& request) override;
};

}  // namespace mdb::engine::greenplum
