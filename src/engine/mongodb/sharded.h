// A sharded MongoDB cluster declared by its router (mongos): the shards it lists, the balancer
// held still while a backup reads, and the one cluster time every shard's journal is brought to
// (what PBM does). The pieces that talk to mongos go through a command runner, so that their
// logic is checked against recorded mongos replies (no registry ships mongos to test against).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "engine/mongodb/mongo_conn.h"

namespace mdb::engine::mongodb {

// `discover_shards: "true"` on the cluster's only host, a mongos.
bool DiscoversShards(const common::ClusterConfig& cluster);

// listShards' reply as shards: each shard's name and the members of its replica set
// ("<set>/<host:port>,<host:port>"), with the router's host options (user, password...). Names
// become parts of repository stream names and hosts get connected to with the cluster's
// credentials: both are checked (FailedPrecondition naming the shard).
absl::StatusOr<std::vector<common::ShardConfig>> ShardsFromListShards(
    const bson_t* reply, const common::HostConfig& router);

// Runs a command on database `db` of the router.
using RunCommand = std::function<absl::StatusOr<Bson>(const std::string& db, const std::string&)>;

// The balancer stopped for the length of a backup: no chunk migrates while the documents are
// read and the shards' oplog windows are cut, so no document is in two shards' windows or none.
class BalancerPause {
 public:
  // balancerStatus, then balancerStop (which waits for a round in progress) unless its mode is
  // already "off". A stop that fails still starts the balancer again before returning the error.
  static absl::StatusOr<std::unique_ptr<BalancerPause>> Start(RunCommand run);
  ~BalancerPause();  // Resume(), if not called: the balancer runs again whatever happened
  // balancerStart when it was running before; once.
  absl::Status Resume();
  bool was_running() const { return was_running_; }

 private:
  explicit BalancerPause(RunCommand run) : run_(std::move(run)) {}
  RunCommand run_;
  bool was_running_ = false;
  bool resumed_ = false;
};

}  // namespace mdb::engine::mongodb
