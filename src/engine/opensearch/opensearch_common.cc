#include "engine/opensearch/opensearch_common.h"

#include <fnmatch.h>

#include <optional>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "engine/opensearch/opensearch_engine.h"

namespace mdb::engine::opensearch {

std::string Option(const common::HostConfig& host, const char* key, const char* def) {
  auto it = host.options.find(key);
  return it == host.options.end() ? std::string(def) : it->second;
}

absl::StatusOr<std::string> RepositoryPath(const Node& node, const common::ClusterConfig& cluster) {
  std::string path = Option(*node.host, "repository_path", "");
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster '", cluster.id,
                     "': its host needs a 'repository_path': an fs snapshot directory "
                     "inside the node's path.repo that the service can read and write"));
  }
  return path;
}

std::string SnapshotName(const std::string& backup_id) {
  return "mdb-" + absl::AsciiStrToLower(backup_id);
}

absl::StatusOr<Node> ReachableNode(const common::ClusterConfig& cluster,
                                   const std::atomic<bool>* cancelled) {
  std::string errors;
  for (const auto& shard : cluster.shards) {
    for (const auto& host : shard.hosts) {
      auto client = OsClient::Connect(host);
      if (!client.ok()) return client.status();
      (*client)->set_cancel(cancelled);
      auto root = (*client)->Ok("GET", "/", "GET /");
      if (absl::IsCancelled(root.status())) return root.status();
      if (!root.ok()) {
        absl::StrAppend(&errors, " ", root.status().message(), ";");
        continue;
      }
      Node node;
      node.version = GetStr(*root, "/version/number");
      if (node.version.empty()) {
        absl::StrAppend(&errors, " ", host.address, " answers GET / but not as OpenSearch;");
        continue;
      }
      node.client = std::move(*client);
      node.host = &host;
      return node;
    }
  }
  return absl::UnavailableError(
      absl::StrCat("cluster '", cluster.id, "': no OpenSearch node answers:", errors));
}

bool ImmutableRepositoryFile(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);
  if (absl::StartsWith(base, "__")) return true;
  return (absl::StartsWith(base, "snap-") || absl::StartsWith(base, "meta-")) &&
         absl::EndsWith(base, ".dat");
}

absl::StatusOr<std::map<std::string, IndexDocs>> DocumentCounts(OsClient* os) {
  RETURN_IF_ERROR(os->Ok("POST", "/_refresh", "refreshing the indices").status());
  ASSIGN_OR_RETURN(Json stats,
                   os->Ok("GET", "/_stats/docs,indexing?level=indices&expand_wildcards=open",
                          "counting documents"));
  std::map<std::string, IndexDocs> out;
  const Json indices = GetNode(stats, "/indices");
  if (!indices.is_object()) return out;
  for (const auto& [name, index] : indices.items()) {
    out[name] = {.docs = GetInt(index, "/primaries/docs/count", -1),
                 .writes = GetInt(index, "/primaries/indexing/index_total") +
                           GetInt(index, "/primaries/indexing/delete_total")};
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SelectIndices(
    const std::vector<std::string>& snapshot,
    const mdb_backup::v1::OpenSearchRestoreOptions& options) {
  std::optional<std::regex> rename;
  if (!options.rename_pattern().empty()) {
    try {
      rename.emplace(options.rename_pattern());
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError(absl::StrCat("rename_pattern '", options.rename_pattern(),
                                                     "' is not a regular expression: ", e.what()));
    }
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& index : snapshot) {
    bool in = options.indices().empty();
    for (const auto& p : options.indices()) {
      const bool exclude = !p.empty() && p[0] == '-';
      // fnmatch: the shell's `*`, the only wildcard OpenSearch's index patterns have.
      if (fnmatch((exclude ? p.substr(1) : p).c_str(), index.c_str(), 0) == 0) in = !exclude;
    }
    if (!in) continue;
    out.emplace_back(
        index, rename ? std::regex_replace(index, *rename, options.rename_replacement()) : index);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "restore_options.indices selects none of the backup's ", snapshot.size(), " indices"));
  }
  return out;
}

}  // namespace mdb::engine::opensearch
