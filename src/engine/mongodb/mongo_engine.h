// MongoDB: every database, collection (with its options), index and document of every shard,
// read with libmongoc over MongoDB's documented commands (hello, listDatabases, listCollections,
// listIndexes, find) and streamed as BSON into the repository; where the server keeps an oplog,
// the entries written during the dump are the backup's journal and make the restore consistent
// at one point (what mongodump --oplog does). Restore loads an empty server per shard.
#pragma once

#include <string>

#include "engine/engine.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::mongodb {

// Host options (config `hosts:` entries): `user`, `password` or `password_file`, `auth_source`.
class MongoDriver final : public Driver {
 public:
  Capabilities capabilities() const override { return {}; }
  absl::StatusOr<BackupResult> Backup(const BackupRequest& request) override;
  absl::Status Restore(const RestoreRequest& request) override;
  std::vector<CheckItem> Check(const common::ClusterConfig& cluster,
                               const std::atomic<bool>* cancelled) override;
  // Drills (mongo_drill.cc): throwaway mongod / FerretDB servers, scratch clusters emptied.
  absl::StatusOr<std::unique_ptr<Scratch>> PrepareScratch(const ScratchRequest& request) override;
  absl::Status EmptyScratch(const common::ClusterConfig& scratch,
                            const std::atomic<bool>* cancelled) override;
  absl::StatusOr<VerifyResult> VerifyRestored(const VerifyRequest& request) override;
};

// Repository stream names: "/" and "%" in database and collection names are %-escaped so that a
// name stays one path element.
std::string CollectionStream(const std::string& shard, const std::string& db,
                             const std::string& collection);
std::string OplogStream(const std::string& shard);

// Its row of the engine table.
EngineModule Module();

}  // namespace mdb::engine::mongodb
