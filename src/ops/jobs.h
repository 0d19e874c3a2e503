// The long work behind ClusterService.Backup / Restore and BackupService.Delete, and the deletes
// retention asks for: engine driver, repository and catalog put together. Journal accounting is
// the JournalKeeper's (ops/journal_keeper.h), the archivers JournalArchivers'. Run inside an
// Operation (operation_runner.h). The API sees it through BackupJobs (ops/backup_jobs.h); the
// drivers come from the engine table it is given, so tests can hand it a fake engine.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/catalog.h"
#include "common/config.h"
#include "engine/engine.h"
#include "engine/registry.h"
#include "ops/backup_jobs.h"
#include "ops/journal_keeper.h"
#include "ops/operation_runner.h"
#include "repo/repository.h"

namespace mdb::ops {

class Jobs final : public BackupJobs {
 public:
  // `engines` outlives the Jobs.
  Jobs(catalog::Catalog* catalog, repo::Repository* repository,
       const engine::EngineRegistry& engines)
      : catalog_(catalog),
        repository_(repository),
        engines_(engines),
        journal_(catalog, repository, engines) {}

  const engine::EngineRegistry& engines() const { return engines_; }

  // BackupJobs.
  absl::StatusOr<catalog::BackupRecord> Backup(const common::ClusterConfig& cluster,
                                               const std::string& backup_id,
                                               catalog::BackupRecord::CreationType type,
                                               const TaskContext& task) override;
  absl::Status Restore(const catalog::BackupRecord& backup, const common::ClusterConfig& target,
                       const TaskContext& task,
                       std::optional<absl::Time> point_in_time = std::nullopt,
                       const std::string& engine_options = "") override;
  absl::Status Delete(const std::string& backup_id) override;
  bool RestoresToPointInTime(common::Engine engine) override;
  bool has_repository() const override { return repository_ != nullptr; }
  absl::Status ProbeRepository() override;
  std::optional<HostsProbe> LastProbe(const std::string& cluster_id) override;
  absl::StatusOr<RecoveryWindow> RecoveryWindowOf(const common::ClusterConfig& cluster) override;

  // A restore drill of `backup` (ops/drills.cc): restored into throwaway servers (`scratch`
  // null) or into the declared scratch cluster, checked against what the backup recorded, the
  // result kept on the backup's record and returned. A drill that failed is a Verification with
  // ok false; an error means none was recorded: the backup gone, cancelled, the catalog, or what
  // the drill's environment lacked (a store or server unavailable, no space): nothing proved
  // about the backup. `clusters`: every declared cluster, which a scratch one is told apart from
  // (by resolved address) each time before it is emptied.
  absl::StatusOr<mdb_backup::v1::Verification> Drill(
      const catalog::BackupRecord& backup, const common::ClusterConfig* scratch,
      const common::DrillsConfig& drills, const std::vector<common::ClusterConfig>& clusters,
      const TaskContext& task);

  // Deletes the cluster's AUTOMATED backups that outlived its retention (ops/retention.h).
  // Returns the ids deleted.
  absl::StatusOr<std::vector<std::string>> ApplyRetention(const common::ClusterConfig& cluster,
                                                          absl::Time now);

  // When the cluster's newest AUTOMATED backup started; InfinitePast if it has none; the
  // catalog's error if it cannot be read.
  absl::StatusOr<absl::Time> LastAutomated(const common::ClusterConfig& cluster);

  // True while a backup (one at a time per cluster) or a delete of the cluster runs here.
  bool IsRunning(const std::string& cluster_id);

  // One backup of a cluster at a time across instances too (several on one catalog): a backup
  // claims its cluster before it starts and gives it up when it ends; `claim` false means
  // another instance runs one, an error that the catalog is away. Unset: this process only.
  struct Claims {
    std::function<absl::StatusOr<bool>(const std::string& cluster_id)> claim;
    std::function<void(const std::string& cluster_id)> release;
  };
  void set_claims(Claims claims) { claims_ = std::move(claims); }
  // Claims again what running backups hold (a claim lasts a lease: the runner's heartbeat calls
  // it every third of it, until the last operation ends).
  void RenewClaims();

  // Called when a GC after a delete or a failed backup failed (the storage, or another GC held
  // the repository; not when it only waited for a running backup): the periodic GC
  // (ops/gc_loop.h) retries it sooner.
  void set_on_gc_failed(std::function<void()> f) { on_gc_failed_ = std::move(f); }
  // The repository's GC with its figures and outcome in the metrics (mdb_repository_*), its error
  // as is: the periodic GC's step (it retries by itself).
  absl::StatusOr<repo::GcReport> Gc();

  // The journal accounting of the backups this object writes and deletes (the archivers report
  // their pieces to it).
  JournalKeeper& journal() { return journal_; }

 private:
  // What this process holds (a cluster for a backup or a delete, a backup a restore reads),
  // given back when destroyed; movable, so that a vector can keep several.
  class Held {
   public:
    explicit Held(std::function<void()> give_back) : give_back_(std::move(give_back)) {}
    Held(Held&& o) noexcept : give_back_(std::exchange(o.give_back_, nullptr)) {}
    Held& operator=(Held&&) = delete;
    ~Held() {
      if (give_back_) give_back_();
    }

   private:
    std::function<void()> give_back_;
  };
  // The cluster, for a backup (`backup`) or a delete, claimed across instances too (Claims): a
  // backup excludes both, deletes exclude backups only. FailedPrecondition naming what holds the
  // cluster here or (claimed) on another instance; Unavailable when the claim cannot be read.
  absl::StatusOr<Held> HoldCluster(const std::string& cluster_id, bool backup);
  // Marks `backup_id` read, here and in the repository (for every process sharing it);
  // FailedPrecondition while a delete or retention takes it.
  // A chain is marked in one step, so that a delete elsewhere sees all of it or none.
  // `mark` (optional) receives the repository mark's key ("" when none was written).
  absl::StatusOr<Held> Read(const std::vector<std::string>& backup_ids,
                            std::string* mark = nullptr);
  // Leaves in `ids` those no restore reads (here or, by its repository mark, elsewhere), marked
  // as being deleted while the result is held: here in the same locked step, so a restore either
  // marked its backup first or is refused; across processes by the repository's marks.
  // `held_off`, when given, says who reads one left out ("on this instance", or the process).
  absl::StatusOr<Held> TakeForDelete(std::vector<std::string>* ids,
                                     std::string* held_off = nullptr);
  // Runs the repository's GC; a GC refused because a backup is being written is left to the next.
  absl::Status CollectGarbage();
  // Restore, and for a drill's throwaway copy (`durable` false) without syncing it to disk.
  absl::Status RestoreInto(const catalog::BackupRecord& backup, const common::ClusterConfig& target,
                           const TaskContext& task, std::optional<absl::Time> point_in_time,
                           const std::string& engine_options, bool durable);

  catalog::Catalog* catalog_;
  repo::Repository* repository_;
  const engine::EngineRegistry& engines_;
  JournalKeeper journal_;
  std::function<void()> on_gc_failed_;
  Claims claims_;
  std::mutex mu_;  // running_, probes_
  // What holds a cluster here: its backup, or deletes (any number); `claimed` once the
  // cross-instance claim is this process's (given back when the last holder leaves).
  struct Holders {
    bool backup = false;
    int deletes = 0;
    bool claimed = false;
  };
  std::map<std::string, Holders> running_;    // by cluster id, while held
  std::map<std::string, HostsProbe> probes_;  // by cluster
  // Backups restores and drills read here (each of a chain; counts), and those being deleted:
  // neither takes the other's from under it.
  std::map<std::string, int> reading_;
  std::set<std::string> deleting_;
  int drills_running_ = 0;  // under mu_; at most server.drills.max_concurrent
};

}  // namespace mdb::ops
