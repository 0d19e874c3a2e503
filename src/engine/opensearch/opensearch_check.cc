// The pre-flight check of an OpenSearch cluster: a node answers with the host's credentials, and
// the snapshot directory (`repository_path`) is there for the service to read and write; the
// node itself must also list it in path.repo, which only registering the repository at backup
// time can tell.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/check_list.h"
#include "engine/opensearch/opensearch_common.h"
#include "engine/opensearch/opensearch_engine.h"

namespace mdb::engine::opensearch {

std::vector<CheckItem> OpenSearchDriver::Check(const common::ClusterConfig& cluster,
                                               const std::atomic<bool>* cancelled) {
  std::vector<CheckItem> out;
  CheckList c(&out, cluster.id);
  auto node = ReachableNode(cluster, cancelled);
  if (!node.ok()) {
    c.Unreachable("connection", std::string(node.status().message()),
                  "make a node reachable from this host; check the host's user and password_file");
    return out;
  }
  CheckList n(&out, node->host->address);
  n.Ok("connection", absl::StrCat("OpenSearch ", node->version));
  auto health = node->client->Ok("GET", "/_cluster/health", "cluster health");
  if (!health.ok()) {
    n.Unreachable("cluster health", std::string(health.status().message()),
                  "grant the user cluster:monitor/health (the built-in role 'manage_snapshots' and "
                  "'cluster_monitor')");
  } else {
    std::string status = GetStr(*health, "/status");
    if (status == "red") {
      n.Warn("cluster health", "red: a snapshot of missing primaries fails",
             "bring every primary shard up before backing up");
    } else {
      n.Ok("cluster health", status);
    }
  }
  auto path = RepositoryPath(*node, cluster);
  if (!path.ok()) {
    n.Fail("repository_path", std::string(path.status().message()),
           "repository_path: a directory listed in the nodes' path.repo (host option)");
  } else if (access(path->c_str(), F_OK) != 0 && errno == ENOENT) {
    // The node creates it when the backup registers the repository.
    n.Ok("repository_path", absl::StrCat(*path, " will be created by the node"));
  } else if (access(path->c_str(), R_OK | W_OK | X_OK) != 0) {
    n.Fail("repository_path", absl::StrCat(*path, ": ", strerror(errno)),
           absl::StrCat("create ", *path,
                        " shared with the nodes, writable by them and by "
                        "mdb-backupd's user"));
  } else {
    n.Ok("repository_path", *path);
  }
  return out;
}

}  // namespace mdb::engine::opensearch
