#include "engine/opensearch/opensearch_common.h"

#include <re2/re2.h>

#include <memory>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
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
  return absl::UnavailableError(absl::StrCat(
      "cluster '", cluster.id, "': no OpenSearch node answers:", absl::StripSuffix(errors, ";")));
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

namespace {

// OpenSearch's index patterns: `*` the only wildcard (Regex.simpleMatch); `?` and `[` are
// characters of a name like any other.
bool SimpleMatch(std::string_view pattern, std::string_view name) {
  // Greedy with a return to the last star: no recursion, time bounded by the two lengths.
  size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SelectIndices(
    const std::vector<std::string>& snapshot,
    const mdb_backup::v1::OpenSearchRestoreOptions& options) {
  // The rename in RE2 (time linear in the name whatever the pattern); its replacement's $1...$9
  // are RE2's \1...\9. What would read otherwise in OpenSearch's Java is refused rather than
  // guessed: "$10" (group 10, or group 1 then "0"), and backslashes (Java's escapes).
  std::unique_ptr<RE2> rename;
  std::string rewrite;
  if (!options.rename_pattern().empty()) {
    RE2::Options o;
    o.set_log_errors(false);
    o.set_max_mem(1 << 20);
    rename = std::make_unique<RE2>(options.rename_pattern(), o);
    if (!rename->ok()) {
      return absl::InvalidArgumentError(absl::StrCat("rename_pattern '", options.rename_pattern(),
                                                     "' is not a regular expression this "
                                                     "service reads: ",
                                                     rename->error()));
    }
    const std::string& r = options.rename_replacement();
    for (size_t k = 0; k < r.size(); ++k) {
      if (r[k] == '\\' || (r[k] == '$' && (k + 1 == r.size() || !isdigit(r[k + 1]) ||
                                           (k + 2 < r.size() && isdigit(r[k + 2]))))) {
        return absl::InvalidArgumentError(
            absl::StrCat("rename_replacement '", r, "': only literal text and $1 to $9 are taken"));
      }
      if (r[k] == '$') {
        rewrite += '\\';
        continue;
      }
      rewrite += r[k];
    }
  }
  // OpenSearch's rules (SnapshotUtils.filterIndices): patterns in order, `-pattern` removes; a
  // list that starts with one removes from every index. An exact name not in the snapshot is
  // refused rather than passed over.
  std::vector<bool> in(
      snapshot.size(),
      options.indices().empty() || (!options.indices(0).empty() && options.indices(0)[0] == '-'));
  for (const auto& p : options.indices()) {
    const bool exclude = !p.empty() && p[0] == '-';
    const std::string_view pattern = std::string_view(p).substr(exclude ? 1 : 0);
    bool matched = false;
    for (size_t k = 0; k < snapshot.size(); ++k) {
      if (!SimpleMatch(pattern, snapshot[k])) continue;
      in[k] = !exclude;
      matched = true;
    }
    if (!matched && !exclude && pattern.find('*') == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("index '", std::string(pattern), "' is not in the backup"));
    }
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t k = 0; k < snapshot.size(); ++k) {
    if (!in[k]) continue;
    std::string renamed = snapshot[k];
    if (rename) RE2::GlobalReplace(&renamed, *rename, rewrite);
    out.emplace_back(snapshot[k], std::move(renamed));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "restore_options.indices selects none of the backup's ", snapshot.size(), " indices"));
  }
  return out;
}

}  // namespace mdb::engine::opensearch
