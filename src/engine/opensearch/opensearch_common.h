// Steps backup and restore share: finding a reachable node, the host's options, snapshot names.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "engine/opensearch/os_http.h"
#include "mdb_backup/v1/engines.pb.h"

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

// Per open index (system ones too), after a refresh: its documents (primaries, Lucene documents)
// and how many writes its primaries have taken (index and delete operations): equal writes at
// two readings mean the index held still in between.
struct IndexDocs {
  int64_t docs = 0;
  int64_t writes = 0;
};
absl::StatusOr<std::map<std::string, IndexDocs>> DocumentCounts(OsClient* os);

// Snapshot names must be lowercase: "mdb-" + the backup id in lowercase.
std::string SnapshotName(const std::string& backup_id);

// The indices of a snapshot a restore brings back, each with the name it gets: all of them, or
// those `options.indices` selects (names or `*` patterns; `-pattern` excludes), renamed by
// `rename_pattern` -> `rename_replacement` (every match; $1... name groups). InvalidArgument for
// a pattern that is not a regular expression, or a selection that matches nothing.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SelectIndices(
    const std::vector<std::string>& snapshot,
    const mdb_backup::v1::OpenSearchRestoreOptions& options);

}  // namespace mdb::engine::opensearch
