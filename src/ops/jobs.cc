// Every number recorded comes from the committed manifest: size is the stored bytes the backup
// references, created_at the commit time, started_at the start of the run.
#include "ops/jobs.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/time_util.h"
#include "engine/engine.h"
#include "metrics/metrics.h"
#include "ops/preflight.h"
#include "ops/reconcile.h"
#include "ops/recovery_window.h"
#include "ops/retention.h"

namespace mdb::ops {

bool Jobs::RestoresToPointInTime(common::Engine engine) {
  auto driver = engines_.MakeDriver(engine);
  return driver.ok() && (*driver)->capabilities().point_in_time;
}

absl::StatusOr<catalog::BackupRecord> Jobs::Backup(const common::ClusterConfig& cluster,
                                                   const std::string& backup_id,
                                                   catalog::BackupRecord::CreationType type,
                                                   const TaskContext& task) {
  const CancelFlag& cancelled = task.cancelled;
  if (!repository_) return absl::FailedPreconditionError("no repository is configured");
  ASSIGN_OR_RETURN(Held slot, HoldCluster(cluster.id, /*backup=*/true));
  ASSIGN_OR_RETURN(auto driver, engines_.MakeDriver(cluster.engine));
  // A stalled source (a wedged server, one that only keeps the connection alive) ends the backup
  // DEADLINE_EXCEEDED rather than holding it, and the cluster's next backups, for good: watched
  // from the pre-flight on (nothing read yet), and again once data is read.
  auto watch_source = [&](std::function<int64_t()> read) {
    task.progress.SetDoneSource(std::move(read));
    task.progress.StopWhenStalled(
        absl::Seconds(cluster.stall_timeout_seconds),
        absl::StrCat("the backup read no data from cluster '", cluster.id,
                     "' (its databases, or the repository storing it)"),
        absl::StrCat("the cluster's stall_timeout_seconds is ", cluster.stall_timeout_seconds,
                     ": raise it if the source is only slow"));
  };
  watch_source([] { return int64_t{0}; });
  // Pre-flight: a missing privilege or setting is named now, with its fix, rather than after the
  // whole base backup streamed (the first backup of a new cluster used to fail at its end).
  std::vector<engine::CheckItem> checked = driver->Check(cluster, &cancelled);
  if (!cancelled.load()) {
    std::lock_guard<std::mutex> lock(mu_);
    probes_[cluster.id] = {.health = HealthOf(checked), .at = absl::Now()};
  }
  if (cancelled.load()) {
    // Say where it was waiting (a server that accepts connections but never answers).
    for (const auto& item : checked) {
      if (item.unreachable && absl::StrContains(item.detail, "cancelled")) {
        return absl::CancelledError(item.detail);
      }
    }
    return absl::CancelledError("backup cancelled during its pre-flight check");
  }
  RETURN_IF_ERROR(RefuseFailedChecks(cluster, checked));
  task.progress.SetDoneSource(nullptr);  // a GC holding the repository is no stalled source
  // BASE or INCREMENTAL: the chain policy, for engines that can build on a parent.
  ChainChoice chain;
  if (driver->capabilities().incremental) {
    ASSIGN_OR_RETURN(auto history, AllBackupsOf(catalog_, cluster.engine, cluster.id));
    chain = ChooseMethod(history);
  }
  // A garbage collection holds the repository for a while (after deletes, and periodically):
  // the backup waits for it rather than failing, as long as it is not cancelled.
  absl::StatusOr<std::unique_ptr<repo::BackupWriter>> started;
  for (absl::Time give_up = absl::Now() + absl::Hours(1);;) {
    started = repository_->StartBackup({.backup_id = backup_id,
                                        .parent_id = chain.parent_id,
                                        .engine = engines_.table().Name(cluster.engine)});
    bool gc_running = repo::HeldBy(started.status(), /*gc=*/true);
    if (!gc_running || absl::Now() > give_up) break;
    if (cancelled.load()) return absl::CancelledError("backup cancelled while waiting for GC");
    absl::SleepFor(absl::Seconds(1));
  }
  ASSIGN_OR_RETURN(auto writer, std::move(started));
  repo::BackupWriter* w = writer.get();
  watch_source([w] { return static_cast<int64_t>(w->bytes_read()); });
  // The newest backup of the cluster, for drivers that can reuse unchanged files from it. None
  // (imported records have no manifest) just means a full read.
  std::optional<repo::Manifest> previous;
  catalog::ListQuery newest{.engine = cluster.engine, .cluster_id = cluster.id, .page_size = 1};
  if (auto page = catalog_->ListBackups(newest); page.ok() && !page->backups.empty()) {
    if (auto m = repository_->ReadManifest(page->backups.front().id()); m.ok()) previous = *m;
  }
  const repo::Manifest* parent =
      chain.incremental && previous && previous->backup_id() == chain.parent_id ? &*previous
                                                                                : nullptr;
  auto result = driver->Backup({.cluster = &cluster,
                                .backup_id = backup_id,
                                .previous = previous ? &*previous : nullptr,
                                .parent = parent,
                                .repository = repository_,
                                .writer = writer.get(),
                                .cancelled = &cancelled});
  task.progress.SetDoneSource(nullptr);
  if (result.ok() && cancelled.load()) {
    result = absl::CancelledError("backup cancelled; its partial data is discarded");
  }
  if (!result.ok()) {
    // What was uploaded is garbage now: collect it (unless another backup runs: then the next GC).
    writer->Abort();
    writer.reset();
    if (absl::Status gc = CollectGarbage(); !gc.ok()) {
      common::Log(common::LogLevel::kWarning, "ops",
                  absl::StrFormat("GC after a failed backup of '%s': %s", cluster.id.c_str(),
                                  std::string(gc.message()).c_str()));
    }
    return result.status();
  }
  // What only the service knows goes into the manifest, so that the repository alone can
  // rebuild this record (ops/reconcile.h); sizes and times come from the manifest.
  catalog::BackupRecord partial;
  partial.set_engine(cluster.engine);
  partial.set_folder_id(cluster.folder_id);
  partial.set_cluster_id(cluster.id);
  partial.set_type(type);
  // An INCREMENTAL that took nothing from its parent is a BASE: listing the parent would keep
  // it alive for nothing, and tell a person the backup needs it.
  const bool incremental = chain.incremental && !result->whole;
  if (chain.incremental && !incremental) writer->DropParent();
  partial.set_method(incremental ? catalog::BackupRecord::INCREMENTAL
                                 : catalog::BackupRecord::BASE);
  partial.set_logical_size(result->data_size);     // -1: the manifest's logical bytes
  partial.set_restore_size(result->restore_size);  // -1: likewise
  if (!result->engine_fields.type_url().empty()) {
    *partial.mutable_engine_fields() = result->engine_fields;
  }
  for (const auto& s : result->shard_names) partial.add_source_shard_names(s);
  ASSIGN_OR_RETURN(repo::Manifest m, writer->Commit(result->metadata, ServiceRecord(partial)));
  ASSIGN_OR_RETURN(catalog::BackupRecord rec, RecordFromManifest(m));
  // Committed: the backup exists whatever happens to its record. A catalog that fails for a
  // moment is asked again; one that stays away gets a message that says where the backup is.
  absl::Status listed = catalog_->PutBackup(rec);
  auto passing = [](const absl::Status& st) {
    return absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st) || absl::IsAborted(st);
  };
  for (int i = 0; !listed.ok() && passing(listed) && i < 3; ++i) {
    absl::SleepFor(absl::Seconds(1 << i));
    listed = catalog_->PutBackup(rec);
  }
  if (!listed.ok()) {
    return absl::Status(listed.code(),
                        absl::StrCat("backup '", backup_id,
                                     "' is committed to the repository but could not be "
                                     "listed in the catalog (",
                                     listed.message(), "); mdb-backupd lists it at its ",
                                     "next start (a daily backup's retry lists it sooner)"));
  }
  // Journal pieces committed while this backup ran were counted toward the previous one (this
  // one was not listed yet): settle them by the rule a rebuild follows, so both agree.
  if (absl::Status st = journal_.SettleAfterBackup(cluster); !st.ok()) {
    // The backup is committed and listed; only its journal accounting waits for the next one.
    common::Log(common::LogLevel::kWarning, "ops",
                absl::StrFormat("journal sizes of '%s' not recounted: %s", cluster.id.c_str(),
                                std::string(st.message()).c_str()));
  } else if (auto now = catalog_->GetBackup(backup_id); now.ok()) {
    rec = *now;
  }
  return rec;
}

absl::Status Jobs::Restore(const catalog::BackupRecord& backup, const common::ClusterConfig& target,
                           const TaskContext& task, std::optional<absl::Time> point_in_time,
                           const std::string& engine_options) {
  return RestoreInto(backup, target, task, point_in_time, engine_options, /*durable=*/true);
}

absl::Status Jobs::RestoreInto(const catalog::BackupRecord& backup,
                               const common::ClusterConfig& target, const TaskContext& task,
                               std::optional<absl::Time> point_in_time,
                               const std::string& engine_options, bool durable) {
  const CancelFlag& cancelled = task.cancelled;
  if (!repository_) return absl::FailedPreconditionError("no repository is configured");
  ASSIGN_OR_RETURN(auto driver, engines_.MakeDriver(target.engine));
  // The backup and its chain (as the catalog knows it) are marked before anything is read: a
  // delete or retention from now on leaves them alone, and one under way refuses this restore
  // before it writes anything. The journal needs no mark: a prune removes only what precedes
  // every remaining backup, and these remain.
  std::vector<std::string> chain;
  for (std::string id = backup.id(), parent = backup.parent_id();;) {
    chain.push_back(id);
    // Hand-edited rows may loop: the walk ends where it comes back.
    if (parent.empty() || std::find(chain.begin(), chain.end(), parent) != chain.end()) break;
    id = parent;
    auto rec = catalog_->GetBackup(id);
    parent = rec.ok() ? rec->parent_id() : "";  // gone: its manifest's read fails below
  }
  std::vector<Held> reading;
  std::vector<std::string> marks(1);  // the repository marks it holds, to tell if one lapsed
  ASSIGN_OR_RETURN(Held chain_read, Read(chain, &marks[0]));
  reading.push_back(std::move(chain_read));
  ASSIGN_OR_RETURN(repo::Manifest m, repository_->ReadManifest(backup.id()));
  // An INCREMENTAL backup is completed by its ancestors: read the chain down to its BASE.
  std::vector<repo::Manifest> ancestors;
  std::set<std::string> seen = {backup.id()};
  for (std::string id = m.parent_id(); !id.empty();) {
    // Manifests that loop (planted, in a plain repository) would walk until memory runs out.
    if (!seen.insert(id).second) {
      return absl::DataLossError(absl::StrCat("the chain of parents of backup '", backup.id(),
                                              "' comes back to backup '", id,
                                              "': its manifests are damaged (run mdb-backup repo "
                                              "verify)"));
    }
    if (std::find(chain.begin(), chain.end(), id) == chain.end()) {
      ASSIGN_OR_RETURN(Held r, Read({id}, &marks.emplace_back()));  // the manifests' chain
      reading.push_back(std::move(r));
    }
    auto parent = repository_->ReadManifest(id);
    if (!parent.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("backup '", backup.id(), "' builds on backup '", id,
                       "', which cannot be read: ", parent.status().message()));
    }
    id = parent->parent_id();
    ancestors.insert(ancestors.begin(), std::move(*parent));
  }
  task.progress.SetTotal(static_cast<int64_t>(m.logical_bytes()));
  std::atomic<int64_t> restored{0};
  task.progress.SetDoneSource([&restored] { return restored.load(); });
  absl::Status st = driver->Restore({.manifest = &m,
                                     .repository = repository_,
                                     .target = &target,
                                     .cancelled = &cancelled,
                                     .bytes_done = &restored,
                                     .ancestors = std::move(ancestors),
                                     .source_cluster_id = backup.cluster_id(),
                                     .journal = &repository_->journal(),
                                     .point_in_time = point_in_time,
                                     .engine_options = engine_options,
                                     .durable = durable});
  task.progress.SetDoneSource(nullptr);
  return repository_->WithLapsedMarks(st, marks);
}

void Jobs::RenewClaims() {
  if (!claims_.claim) return;
  std::set<std::string> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& entry : running_) running.insert(entry.first);
  }
  // A renewal refused (this instance was cut off past the lease) changes nothing here: the
  // operation's own lease has run out too, and its owner stops it at the next heartbeat.
  for (const auto& id : running) {
    (void)claims_.claim(id);  // outside the lock: a catalog round trip
    // The backup may have ended meanwhile (and released its claim): this renewal took it
    // again, so it is given back; a new backup of the cluster starts only after the lock.
    std::lock_guard<std::mutex> lock(mu_);
    if (running_.count(id) == 0) claims_.release(id);
  }
}

bool Jobs::IsRunning(const std::string& cluster_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return running_.count(cluster_id) > 0;
}

absl::StatusOr<absl::Time> Jobs::LastAutomated(const common::ClusterConfig& cluster) {
  // Newest first; AUTOMATED backups are daily, so the newest one is near the front. The walk is
  // capped so that a cluster with a huge history of MANUAL backups cannot stall the scheduler.
  catalog::ListQuery q{.engine = cluster.engine, .cluster_id = cluster.id, .page_size = 1000};
  for (int page = 0; page < 10; ++page) {
    auto list = catalog_->ListBackups(q);
    if (!list.ok()) return list.status();
    for (const auto& b : list->backups) {
      if (b.type() == catalog::BackupRecord::AUTOMATED) return common::FromProto(b.started_at());
    }
    if (list->next_page_token.empty()) break;
    q.page_token = list->next_page_token;
  }
  return absl::InfinitePast();
}

absl::StatusOr<std::vector<std::string>> Jobs::ApplyRetention(const common::ClusterConfig& cluster,
                                                              absl::Time now) {
  ASSIGN_OR_RETURN(auto all, AllBackupsOf(catalog_, cluster.engine, cluster.id));
  // Only backups recorded in the cluster's folder expire here, and only those both views agree
  // on: the folder's own (its newest stays, whatever another folder's cluster of this id did)
  // and all of the id's (nothing a kept backup of any folder needs as a parent goes). After a
  // folder change in the config, or an id reused by a cluster of another folder, the other
  // folder's backups are that folder's to delete.
  std::vector<catalog::BackupRecord> ours;
  for (const auto& b : all) {
    if (b.folder_id() == cluster.folder_id) ours.push_back(b);
  }
  const absl::Duration keep = absl::Hours(24) * cluster.retention_days;
  const std::vector<std::string> of_all = SelectExpired(all, now, keep);
  const std::set<std::string> agreed(of_all.begin(), of_all.end());
  std::vector<std::string> expired = SelectExpired(ours, now, keep);
  std::erase_if(expired, [&](const std::string& id) { return !agreed.count(id); });
  // A backup a restore reads (with its chain) expires at the next retention, after the restore.
  ASSIGN_OR_RETURN(Held deleting, TakeForDelete(&expired));
  // One GC for all of them: each GC reads every manifest and index of the repository.
  for (const auto& id : expired) RETURN_IF_ERROR(journal_.Forget(id));
  if (!expired.empty()) {
    RETURN_IF_ERROR(journal_.Prune(cluster.engine, cluster.id));
    RETURN_IF_ERROR(CollectGarbage());
  }
  return expired;
}

std::optional<HostsProbe> Jobs::LastProbe(const std::string& cluster_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = probes_.find(cluster_id);
  if (it == probes_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<RecoveryWindow> Jobs::RecoveryWindowOf(const common::ClusterConfig& cluster) {
  if (!repository_) return absl::FailedPreconditionError("no repository is configured");
  ASSIGN_OR_RETURN(auto driver, engines_.MakeDriver(cluster.engine));
  ASSIGN_OR_RETURN(auto records, AllBackupsOf(catalog_, cluster.engine, cluster.id));
  // Only what the API lists of the cluster: the backups recorded in its folder.
  std::erase_if(records,
                [&](const catalog::BackupRecord& r) { return r.folder_id() != cluster.folder_id; });
  const bool pitr = driver->capabilities().point_in_time;
  std::vector<BackupPoint> points;
  for (const auto& r : records) {
    points.push_back({.id = r.id(), .at = common::FromProto(r.created_at())});
  }
  if (pitr && !records.empty()) {
    // Each backup's shards say where its journal starts: its manifest (kept without its stream
    // list, which is the bulk of it: a window of many large backups holds little). One listing
    // of the journal serves them all.
    std::vector<repo::Manifest> manifests;
    std::vector<const repo::Manifest*> of(records.size(), nullptr);
    manifests.reserve(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      auto m = repository_->ReadManifest(records[i].id());
      if (m.ok()) {
        m->clear_streams();
        manifests.push_back(*std::move(m));
        of[i] = &manifests.back();
      } else if (absl::IsUnavailable(m.status())) {
        return m.status();  // the repository is away: no window rather than a wrong one
      }
      // Deleted meanwhile, or a damaged manifest (repo verify reports it): its point stays,
      // with no journal reach (a restore of it would fail at the same manifest).
    }
    ASSIGN_OR_RETURN(auto reaches, driver->JournalReaches(&repository_->journal(), cluster.id, of));
    for (size_t i = 0; i < points.size() && i < reaches.size(); ++i) {
      if (reaches[i]) {
        points[i].reach = JournalEnd{
            .until = reaches[i]->until, .stopped = reaches[i]->stopped, .gap = reaches[i]->gap};
      }
    }
  }
  return BuildWindow(std::move(points), pitr);
}

absl::Status Jobs::ProbeRepository() {
  if (!repository_) return absl::FailedPreconditionError("no repository is configured");
  absl::Status st = repository_->Probe();
  metrics::Metrics::Get().RepositoryReachable(st.ok());
  if (!st.ok()) {
    return absl::UnavailableError(absl::StrCat("the repository does not answer: ", st.message()));
  }
  return absl::OkStatus();
}

namespace {

// Down, or refusing us (revoked S3 credentials are PERMISSION_DENIED): not usable either way. A
// repository that answered with damage (DATA_LOSS) or an object too large for this host
// (RESOURCE_EXHAUSTED) is up: its alert is another one (docs/monitoring.md).
bool Unreachable(const absl::Status& st) {
  return absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st) || absl::IsPermissionDenied(st) ||
         absl::IsUnauthenticated(st);
}

}  // namespace

absl::StatusOr<repo::GcReport> Jobs::Gc() {
  if (!repository_) return repo::GcReport{};
  auto gc = repository_->Gc();
  if (gc.ok()) {
    auto journal = repository_->journal().Total();  // one listing; pieces are not read
    const uint64_t journal_bytes = journal.ok() ? journal->stored_bytes : 0;
    metrics::Metrics::Get().Repository({.stored_bytes = gc->stored_bytes,
                                        .logical_bytes = gc->logical_bytes,
                                        .journal_bytes = journal_bytes,
                                        .packs = static_cast<uint64_t>(gc->packs_kept),
                                        .chunks = gc->chunks,
                                        .reclaimable_bytes = gc->unreferenced_bytes_kept},
                                       absl::Now());
  }
  const bool held =
      repo::HeldBy(gc.status(), /*gc=*/false) || repo::HeldBy(gc.status(), /*gc=*/true);
  if (!held) metrics::Metrics::Get().RepositoryGcEnded(gc.status().code());
  // Answered, even with damage: up; not answered: down.
  if (!held && !gc.ok()) metrics::Metrics::Get().RepositoryReachable(!Unreachable(gc.status()));
  return gc;
}

absl::Status Jobs::CollectGarbage() {
  absl::Status st = Gc().status();
  // A GC that failed (not one that waits for a running backup) is retried by the periodic GC.
  bool busy = repo::HeldBy(st, /*gc=*/false);
  if (!st.ok() && !busy && on_gc_failed_) on_gc_failed_();
  if (!st.ok() && !absl::IsUnavailable(st)) return st;
  return absl::OkStatus();
}

absl::Status Jobs::Delete(const std::string& backup_id) {
  ASSIGN_OR_RETURN(catalog::BackupRecord rec, catalog_->GetBackup(backup_id));
  {
    // Not beside a backup of the cluster: an INCREMENTAL one may be building on this backup (it
    // is not listed yet, so the check below cannot see it), and with no backup left the prune
    // would drop the journal the running one starts. Held before the check, so that a backup
    // listed meanwhile is seen. Deletes share; the GC after waits for any backup by itself.
    ASSIGN_OR_RETURN(Held slot, HoldCluster(rec.cluster_id(), /*backup=*/false));
    std::vector<std::string> ids = {backup_id};
    std::string reader;
    ASSIGN_OR_RETURN(Held deleting, TakeForDelete(&ids, &reader));
    if (ids.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("backup '", backup_id,
                                                        "' is being restored (or drilled) by ",
                                                        reader, "; delete it when that ends"));
    }
    // An INCREMENTAL backup is completed by its parent's data: deleting the parent first would
    // leave it unrestorable.
    ASSIGN_OR_RETURN(auto all, AllBackupsOf(catalog_, rec.engine(), rec.cluster_id()));
    for (const auto& b : all) {
      if (b.parent_id() == backup_id) {
        return absl::FailedPreconditionError(absl::StrCat("backup '", backup_id,
                                                          "' is the parent of INCREMENTAL backup '",
                                                          b.id(), "'; delete that one first"));
      }
    }
    RETURN_IF_ERROR(journal_.Forget(backup_id));
    RETURN_IF_ERROR(journal_.Prune(rec.engine(), rec.cluster_id()));
  }
  return CollectGarbage();
}

}  // namespace mdb::ops
