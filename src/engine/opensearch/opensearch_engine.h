// OpenSearch: the cluster takes a snapshot into an `fs` snapshot repository on a filesystem the
// service can read (shared with the nodes, as fs repositories always are); the service copies the
// repository's files into its own repository and deletes the cluster's older snapshots, so the
// cluster's snapshot storage holds one snapshot at most and each new snapshot is still
// incremental against it. Files OpenSearch never rewrites (segment blobs "__*", snap-*/meta-*)
// are reused from the previous backup without being read again. Restore stages the files in the
// target node's snapshot directory, registers it read-only and restores from it.
#pragma once

#include <string>

#include "engine/engine.h"

namespace mdb::engine::opensearch {

// Host options: `repository_path` (required): the directory of the fs snapshot repository, inside
// the node's path.repo and readable/writable by the service; `repository` (default "mdb-backup"):
// its name in the cluster, dedicated to the service; `user`, `password` or `password_file`;
// `scheme` (http/https).
class OpenSearchDriver final : public Driver {
 public:
  Capabilities capabilities() const override { return {}; }
  absl::StatusOr<BackupResult> Backup(const BackupRequest& request) override;
  absl::Status Restore(const RestoreRequest& request) override;
  std::vector<CheckItem> Check(const common::ClusterConfig& cluster,
                               const std::atomic<bool>* cancelled) override;
  // Drills (opensearch_drill.cc): into a declared scratch cluster only.
  absl::StatusOr<std::unique_ptr<Scratch>> PrepareScratch(const ScratchRequest& request) override;
  absl::Status EmptyScratch(const common::ClusterConfig& scratch,
                            const std::atomic<bool>* cancelled) override;
  absl::StatusOr<VerifyResult> VerifyRestored(const VerifyRequest& request) override;
};

// True for files of an fs snapshot repository that OpenSearch writes once and never changes:
// data blobs ("__<uuid>") and per-snapshot metadata ("snap-<uuid>.dat", "meta-<uuid>.dat").
// index-N, index.latest and shard generation files ("index-<uuid>") change: always re-read.
bool ImmutableRepositoryFile(const std::string& relative_path);

// Its row of the engine table.
EngineModule Module();

}  // namespace mdb::engine::opensearch
