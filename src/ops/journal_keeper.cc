#include "ops/journal_keeper.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "common/time_util.h"
#include "ops/reconcile.h"

namespace mdb::ops {

absl::Status JournalKeeper::AddPiece(const common::ClusterConfig& cluster,
                                     const engine::JournalPiece& piece) {
  ASSIGN_OR_RETURN(auto driver, engines_.MakeDriver(cluster.engine));
  std::lock_guard<std::mutex> lock(mu_);
  if (recounted_[cluster.id].erase(piece.object) > 0) return absl::OkStatus();  // counted
  // Newest first: the piece almost always continues the newest backup.
  catalog::ListQuery q{.engine = cluster.engine, .cluster_id = cluster.id, .page_size = 50};
  ASSIGN_OR_RETURN(catalog::ListPage page, catalog_->ListBackups(q));
  for (const auto& b : page.backups) {
    auto cached = starts_.find(b.id());
    if (cached == starts_.end()) {
      auto m = repository_->ReadManifest(b.id());
      if (!m.ok()) continue;  // imported records have no manifest
      cached = starts_.emplace(b.id(), driver->JournalStarts(*m)).first;
    }
    auto start = cached->second.find(piece.shard);
    if (start == cached->second.end() || start->second >= piece.end) continue;
    // Never a PutBackup: the backup may have been deleted on another instance since the list,
    // and a drill may be recording its verification on the same record meanwhile. (A retry after
    // a commit whose reply was lost may count the piece twice: the recount after the cluster's
    // next backup sets it right.)
    const auto bytes = static_cast<int64_t>(piece.stored_bytes);
    absl::Status st = catalog_->ModifyBackup(b.id(), [bytes](catalog::BackupRecord* r) {
      r->set_journal_size(r->journal_size() + bytes);
      return absl::OkStatus();
    });
    return absl::IsNotFound(st) ? absl::OkStatus() : st;
  }
  return absl::OkStatus();  // older than every backup: no backup's journal (pruned later)
}

absl::Status JournalKeeper::SettleAfterBackup(const common::ClusterConfig& cluster) {
  ASSIGN_OR_RETURN(auto driver, engines_.MakeDriver(cluster.engine));
  // A piece committed before the recount but reported after it is not added twice (recounted_).
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string>& recounted = recounted_[cluster.id];
  recounted.clear();
  absl::Status st =
      RecomputeJournalSizes(catalog_, repository_, *driver, cluster.engine, cluster.id, &recounted);
  // Pieces a failed recount saw are not skipped when they are reported: they were not counted.
  if (!st.ok()) recounted.clear();
  return st;
}

absl::Status JournalKeeper::Forget(const std::string& backup_id) {
  // Under the lock throughout: a recount after a backup (which rewrites the cluster's rows) must
  // see the row either before the delete or not at all.
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(catalog::BackupRecord rec, catalog_->GetBackup(backup_id));
  // The repository first: it is the truth the catalog is rebuilt from (ops/reconcile.h), so a
  // failure here leaves the backup listed and deletable again, never a catalog row gone with the
  // manifest still there to come back at the next start.
  if (repository_) {
    absl::Status st = repository_->DeleteBackup(backup_id);
    if (!st.ok() && !absl::IsNotFound(st)) return st;  // imported records have no data
  }
  if (rec.journal_size() > 0) {
    ASSIGN_OR_RETURN(auto all, AllBackupsOf(catalog_, rec.engine(), rec.cluster_id()));
    const catalog::BackupRecord* older = nullptr;
    for (const auto& b : all) {
      if (b.id() != rec.id() &&
          common::ToUnixNanos(b.created_at()) < common::ToUnixNanos(rec.created_at()) &&
          (!older ||
           common::ToUnixNanos(b.created_at()) > common::ToUnixNanos(older->created_at()))) {
        older = &b;
      }
    }
    if (older) {
      const int64_t moved = rec.journal_size();
      absl::Status st = catalog_->ModifyBackup(older->id(), [moved](catalog::BackupRecord* r) {
        r->set_journal_size(r->journal_size() + moved);
        return absl::OkStatus();
      });  // gone meanwhile: nothing to merge into
      if (!st.ok() && !absl::IsNotFound(st)) return st;
    }
  }
  starts_.erase(backup_id);
  return catalog_->DeleteBackup(backup_id);
}

absl::Status JournalKeeper::Prune(common::Engine engine, const std::string& cluster_id) {
  if (!repository_) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto driver, engines_.MakeDriver(engine));
  ASSIGN_OR_RETURN(auto all, AllBackupsOf(catalog_, engine, cluster_id));
  // Per shard, the oldest start among the remaining backups: journal before it is useless.
  std::map<std::string, uint64_t> keep_from;
  for (const auto& b : all) {
    auto m = repository_->ReadManifest(b.id());
    // Gone or damaged for good: nothing restores from it, its journal included.
    if (absl::IsNotFound(m.status()) || absl::IsDataLoss(m.status()) ||
        absl::IsInvalidArgument(m.status())) {
      continue;
    }
    if (!m.ok()) {
      // Unreadable now (the store away): left out, its start would not hold the journal back,
      // and the journal it needs would go for good. Nothing is pruned now; the next delete or
      // retention prunes.
      common::Log(common::LogLevel::kWarning, "ops",
                  absl::StrCat("journal of '", cluster_id, "' not pruned: backup '", b.id(),
                               "' cannot be read (", m.status().message(), ")"));
      return absl::OkStatus();
    }
    for (const auto& [shard, start] : driver->JournalStarts(*m)) {
      auto it = keep_from.find(shard);
      if (it == keep_from.end() || start < it->second) keep_from[shard] = start;
    }
  }
  if (keep_from.empty() && !all.empty()) return absl::OkStatus();  // nothing known: keep all
  return driver->PruneJournal(&repository_->journal(), cluster_id, keep_from);
}

}  // namespace mdb::ops
