// Steps backup and restore share: finding a reachable node, the host's options, snapshot names.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "engine/opensearch/os_http.h"

namespace mdb::engine::opensearch {

struct Node {
  std::unique_ptr<OsClient> client;
  const common::HostConfig* host = nullptr;
  std::string version;  // GET / version.number
};

// The first host of the cluster's (only) shard that answers GET /.
absl::StatusOr<Node> ReachableNode(const common::ClusterConfig& cluster,
                                   const std::atomic<bool>* cancelled = nullptr);

// The node's `repository_path` option: where snapshots are written (backup) or staged (restore);
// InvalidArgument naming the cluster when it is not set.
absl::StatusOr<std::string> RepositoryPath(const Node& node, const common::ClusterConfig& cluster);

// A host option, or `def`.
std::string Option(const common::HostConfig& host, const char* key, const char* def);

// Documents per index, as _cat/indices counts them after a refresh (every index, system ones too).
absl::StatusOr<std::map<std::string, int64_t>> DocumentCounts(OsClient* os);

// Snapshot names must be lowercase: "mdb-" + the backup id in lowercase.
std::string SnapshotName(const std::string& backup_id);

}  // namespace mdb::engine::opensearch
