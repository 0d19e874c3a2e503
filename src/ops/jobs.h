// The long work behind ClusterService.Backup / Restore and BackupService.Delete: engine driver,
// repository and catalog put together. Run inside an Operation (operation_runner.h). The API sees
// it through BackupJobs (ops/backup_jobs.h); the drivers come from the engine table it is given, so
// tests can hand it a fake engine.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "common/config.h"
#include "engine/engine.h"
#include "engine/registry.h"
#include "ops/backup_jobs.h"
#include "ops/operation_runner.h"
#include "repo/repository.h"

namespace mdb::ops {

class Jobs final : public BackupJobs {
 public:
  // `engines` outlives the Jobs.
  Jobs(catalog::Catalog* catalog, repo::Repository* repository,
       const engine::EngineRegistry& engines)
      : catalog_(catalog), repository_(repository), engines_(engines) {}
  ~Jobs() override { StopJournals(); }  // the archivers call back into this object

  // BackupJobs.
  absl::StatusOr<catalog::BackupRecord> Backup(const common::ClusterConfig& cluster,
                                               const std::string& backup_id,
                                               catalog::BackupRecord::CreationType type,
                                               const TaskContext& task) override;
  absl::Status Restore(const catalog::BackupRecord& backup, const common::ClusterConfig& target,
                       const TaskContext& task,
                       std::optional<absl::Time> point_in_time = std::nullopt) override;
  absl::Status Delete(const std::string& backup_id) override;
  bool RestoresToPointInTime(common::Engine engine) override;
  bool has_repository() const override { return repository_ != nullptr; }

  // Deletes the cluster's AUTOMATED backups that outlived its retention (ops/retention.h).
  // Returns the ids deleted.
  absl::StatusOr<std::vector<std::string>> ApplyRetention(const common::ClusterConfig& cluster,
                                                          absl::Time now);

  // When the cluster's newest AUTOMATED backup started; InfinitePast if it has none.
  absl::Time LastAutomated(const common::ClusterConfig& cluster);

  // True while a backup of the cluster runs in this process (one at a time per cluster).
  bool IsRunning(const std::string& cluster_id);

  // Called when a GC after a delete or a failed backup failed (the storage, or another GC held
  // the repository; not when it only waited for a running backup): the periodic GC
  // (ops/gc_loop.h) retries it sooner.
  void set_on_gc_failed(std::function<void()> f) { on_gc_failed_ = std::move(f); }

  // Journal accounting (jobs_journal.cc). A piece of the cluster's journal was committed: its
  // stored bytes count toward the journal_size of the newest backup whose journal it continues.
  absl::Status AddJournal(const common::ClusterConfig& cluster, const engine::JournalPiece& piece);
  // (Re)starts the journal archivers of the declared clusters whose engine has one; archivers of
  // clusters whose declaration changed are restarted, of clusters no longer declared stopped.
  void ApplyJournals(const common::Config& config);
  void StopJournals();

 private:
  // Removes the backup from the catalog and its manifest from the repository (no GC); its
  // journal_size moves to the cluster's next older backup, whose journal now runs through it.
  absl::Status Forget(const std::string& backup_id);
  // Deletes journal pieces of the cluster that no remaining backup can use.
  absl::Status PruneJournal(common::Engine engine, const std::string& cluster_id);
  // Runs the repository's GC; a GC refused because a backup is being written is left to the next.
  absl::Status CollectGarbage();
  absl::StatusOr<std::vector<catalog::BackupRecord>> AllBackups(
      const common::ClusterConfig& cluster);

  catalog::Catalog* catalog_;
  repo::Repository* repository_;
  const engine::EngineRegistry& engines_;
  std::function<void()> on_gc_failed_;
  std::mutex mu_;
  std::set<std::string> running_;
  std::mutex journal_mu_;  // journal_size read-modify-writes; the starts cache
  std::map<std::string, std::map<std::string, uint64_t>> journal_starts_;  // by backup id
  // Per cluster, journal pieces the last recount already attributed (AddJournal skips them).
  std::map<std::string, std::set<std::string>> recounted_pieces_;
  std::mutex archivers_mu_;
  struct Archiver {
    std::string declaration;  // what it was started from, to notice changes on reload
    std::unique_ptr<engine::Journal> journal;
  };
  std::map<std::string, Archiver> archivers_;  // by cluster id
};

}  // namespace mdb::ops
