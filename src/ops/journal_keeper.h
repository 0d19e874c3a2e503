// Journal accounting: a backup's journal_size is the stored bytes of journal from its start to
// the next backup's start. Each committed piece is added to the newest backup it continues (by
// the engine's journal positions); a backup's commit settles the pieces that raced it by the rule
// a rebuild follows (ops/reconcile.h); a deleted backup's share moves to its older neighbour;
// pieces no remaining backup can use are pruned. One lock: every read-modify-write of the
// cluster's journal sizes happens under it.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "engine/registry.h"
#include "repo/repository.h"

namespace mdb::ops {

class JournalKeeper {
 public:
  // `repository` may be null (no journal is then kept); all three outlive the keeper.
  JournalKeeper(catalog::Catalog* catalog, repo::Repository* repository,
                const engine::EngineRegistry& engines)
      : catalog_(catalog), repository_(repository), engines_(engines) {}

  // A piece of the cluster's journal was committed: its bytes count toward the newest backup
  // whose journal it continues (none when it is older than every backup: pruned later).
  absl::Status AddPiece(const common::ClusterConfig& cluster, const engine::JournalPiece& piece);
  // A backup of the cluster was just committed and listed: pieces committed while it ran were
  // counted toward the previous one; recount the cluster's sizes from the repository. On failure
  // the sizes stay as they were (the next commit recounts).
  absl::Status SettleAfterBackup(const common::ClusterConfig& cluster);
  // Removes the backup's manifest from the repository and its row from the catalog (no GC); its
  // journal_size moves to the cluster's next older backup, whose journal now runs through it.
  absl::Status Forget(const std::string& backup_id);
  // Deletes journal pieces of the cluster that no remaining backup can use.
  absl::Status Prune(common::Engine engine, const std::string& cluster_id);

 private:
  catalog::Catalog* catalog_;
  repo::Repository* repository_;
  const engine::EngineRegistry& engines_;
  std::mutex mu_;
  std::map<std::string, std::map<std::string, uint64_t>> starts_;  // by backup id (a cache)
  // Per cluster, pieces the last recount already attributed (AddPiece skips them once).
  std::map<std::string, std::set<std::string>> recounted_;
};

}  // namespace mdb::ops
