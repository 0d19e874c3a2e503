// The catalog is an index of the repository: every committed backup's manifest carries the record
// the service made of it (Manifest.service_record), so the catalog can be rebuilt from the
// repository alone, and a crash between the manifest's commit and the catalog's insert leaves a
// backup that the next start lists instead of an orphan nobody can see or delete.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "common/config.h"
#include "engine/engine.h"
#include "engine/registry.h"
#include "repo/repository.h"

namespace mdb::ops {

// The record to put in a manifest at commit: `partial` is what only the service knows (folder,
// cluster, engine, type, method, shard names, engine fields); the rest, parent included, comes
// from the manifest itself (RecordFromManifest).
std::string ServiceRecord(const catalog::BackupRecord& partial);

// The catalog record of a committed backup: its service record completed with the manifest's id,
// times and sizes (size = stored bytes referenced, added_size, journal_size = its own journal).
// NotFound when the manifest carries no service record (journal pieces; older versions).
absl::StatusOr<catalog::BackupRecord> RecordFromManifest(const repo::Manifest& manifest);

// Every backup of the cluster in the catalog, newest first.
absl::StatusOr<std::vector<catalog::BackupRecord>> AllBackupsOf(catalog::Catalog* catalog,
                                                                common::Engine engine,
                                                                const std::string& cluster_id);

struct ReconcileReport {
  std::vector<std::string> added;       // committed backups the catalog lacked: listed now
  std::vector<std::string> unrecorded;  // manifests without a service record: left alone
  std::vector<std::string> missing;     // catalog rows of `clusters` whose manifest is gone
  std::vector<std::string> unreadable;  // "id: why" of manifests that could not be read
  std::vector<std::string> upgraded;    // "N object(s) of <engine>" moved to today's form
};

// Lists every committed backup that the catalog lacks (the rule: a backup exists once its
// manifest does), recomputes the journal sizes of the clusters that got rows, and reports the
// catalog rows of `clusters` whose data is gone (they are kept: imported records have none).
absl::StatusOr<ReconcileReport> Reconcile(catalog::Catalog* catalog, repo::Repository* repository,
                                          const std::vector<common::ClusterConfig>& clusters,
                                          const engine::EngineRegistry& engines);

// Journal sizes of one cluster from the repository: each backup's own journal bytes plus every
// archived journal piece whose end is past the backup's start and before the next backup's, the
// same rule the live accounting follows (Jobs::AddJournal). Nothing changes for a cluster without
// archived pieces.
// `counted` (optional) receives the objects of the pieces it counted.
// `driver` is the engine's (it lists the pieces).
absl::Status RecomputeJournalSizes(catalog::Catalog* catalog, repo::Repository* repository,
                                   engine::Driver& driver, common::Engine engine,
                                   const std::string& cluster_id,
                                   std::set<std::string>* counted = nullptr);

}  // namespace mdb::ops
