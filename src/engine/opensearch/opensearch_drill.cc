// Restore drills of OpenSearch backups: into a declared scratch cluster only (a throwaway node of
// the service's own would be a JVM per drill; `local` is refused with that reason). The scratch
// cluster's non-system indices are deleted before and after; the check compares every restored
// index's documents with the count the backup recorded where the index held still during the
// snapshot.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "engine/opensearch/opensearch_common.h"
#include "engine/opensearch/opensearch_engine.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::opensearch {

absl::StatusOr<std::unique_ptr<Scratch>> OpenSearchDriver::PrepareScratch(
    const ScratchRequest& req) {
  return absl::UnimplementedError(
      "OpenSearch backups are drilled into a declared scratch cluster (`scratch: true` and the "
      "drill's target), not `local`: a node of its own would be a JVM per drill");
}

absl::Status OpenSearchDriver::EmptyScratch(const common::ClusterConfig& scratch,
                                            const std::atomic<bool>* cancelled) {
  ASSIGN_OR_RETURN(Node node, ReachableNode(scratch, cancelled));
  ASSIGN_OR_RETURN(Json list, node.client->Ok("GET", "/_cat/indices?format=json&h=index",
                                              "listing the scratch cluster's indices"));
  std::vector<std::string> user;
  if (list.is_array()) {
    for (const auto& i : list) {
      std::string name = GetStr(i, "/index");
      if (!name.empty() && name[0] != '.') user.push_back(name);  // the node's own stay
    }
  }
  // In batches: a URL of every index at once could pass any server's line limit.
  for (size_t i = 0; i < user.size(); i += 50) {
    std::vector<std::string> batch(user.begin() + i, user.begin() + std::min(user.size(), i + 50));
    RETURN_IF_ERROR(node.client
                        ->Ok("DELETE", "/" + absl::StrJoin(batch, ","),
                             "deleting the scratch cluster's indices")
                        .status());
  }
  return absl::OkStatus();
}

absl::StatusOr<VerifyResult> OpenSearchDriver::VerifyRestored(const VerifyRequest& req) {
  mdb_backup::v1::OpenSearchBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  ASSIGN_OR_RETURN(Node node, ReachableNode(*req.target, req.cancelled));
  ASSIGN_OR_RETURN(auto counts, DocumentCounts(node.client.get()));
  VerifyResult out;
  int64_t documents = 0;
  int checked = 0, unrecorded = 0;
  for (const auto& index : meta.indices()) {
    if (index[0] == '.') continue;  // system indices are not restored (the node has its own)
    auto want = meta.documents().find(index);
    auto got = counts.find(index);
    if (got == counts.end()) {
      out.problems.push_back(absl::StrCat("index '", index, "' is missing after the restore"));
      continue;
    }
    if (want == meta.documents().end()) {
      ++unrecorded;
      continue;
    }
    if (got->second.docs != want->second) {
      out.problems.push_back(absl::StrCat("index '", index, "': ", got->second.docs,
                                          " documents restored, the backup recorded ",
                                          want->second));
      continue;
    }
    ++checked;
    documents += got->second.docs;
  }
  out.checked.push_back(
      absl::StrCat(checked, " indices with ", documents, " documents as the backup recorded"));
  if (unrecorded > 0) {
    out.checked.push_back(absl::StrCat(unrecorded,
                                       " indices present, not counted (written to during the "
                                       "snapshot, or a backup of an older version)"));
  }
  return out;
}

}  // namespace mdb::engine::opensearch
