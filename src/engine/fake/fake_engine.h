// A test-only engine: a "cluster" is a directory per shard (its host's `dir` option), a
// backup holds each shard's files as streams, a restore writes them into the target's
// directories. Small on purpose: it exists to show that a new engine is its folder, its protos
// and one row (EngineModule), and to run the whole service over an engine no production code
// names.
#pragma once

#include "engine/engine.h"

namespace mdb::engine::fake {

class FakeDriver final : public Driver {
 public:
  Capabilities capabilities() const override { return {}; }
  absl::StatusOr<BackupResult> Backup(const BackupRequest& request) override;
  absl::Status Restore(const RestoreRequest& request) override;
};

// The fake engine's id: no value of mdb_backup.v1.Engine (the table, not the enum, is what
// knows the engines; records.proto lists the ids of the built-in ones).
inline constexpr common::Engine kEngineId = static_cast<common::Engine>(100);

// Its row of the engine table.
EngineModule Module();

}  // namespace mdb::engine::fake
