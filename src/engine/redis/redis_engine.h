// Redis: a snapshot of every shard taken over the replication protocol (PSYNC), from a replica
// when the shard has one, streamed into the repository as the shard's RDB; restore serves the RDB
// to fresh servers through the same protocol (they replicate from us once, then detach).
#pragma once

#include "engine/engine.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::redis {

// Host options (config `hosts:` entries): `password` or `password_file` for AUTH, `user` for ACL
// users (default "default").
// Key-by-key restore into a Redis Cluster (redis_cluster_restore.cc).
absl::Status RestoreIntoCluster(const RestoreRequest& req, const mdb_backup::v1::RedisBackup& meta);

class RedisDriver final : public Driver {
 public:
  Capabilities capabilities() const override { return {}; }
  absl::StatusOr<BackupResult> Backup(const BackupRequest& request) override;
  absl::Status Restore(const RestoreRequest& request) override;
  std::vector<CheckItem> Check(const common::ClusterConfig& cluster,
                               const std::atomic<bool>* cancelled) override;
  // Drills (redis_drill.cc).
  absl::StatusOr<std::unique_ptr<Scratch>> PrepareScratch(const ScratchRequest& request) override;
  absl::Status EmptyScratch(const common::ClusterConfig& scratch,
                            const std::atomic<bool>* cancelled) override;
  absl::StatusOr<VerifyResult> VerifyRestored(const VerifyRequest& request) override;
};

// Its row of the engine table.
EngineModule Module();

}  // namespace mdb::engine::redis
