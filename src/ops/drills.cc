// Restore drills: "a backup is only as good as its last restore", so the service restores its
// own backups and checks what arrives. A drill restores into servers nobody else uses (its own
// throwaway ones under server.drills.work_dir, or a cluster declared `scratch: true`, emptied
// before and after), asks the driver to compare the restored data with the facts the backup
// recorded, and keeps the result on the backup's record. It never touches any other cluster:
// the target is either made here or declared scratch (config.cc refuses anything else).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/same_server.h"
#include "common/status.h"
#include "common/text.h"
#include "common/time_util.h"
#include "metrics/metrics.h"
#include "ops/jobs.h"

namespace mdb::ops {
namespace {

using Verification = ::mdb_backup::v1::Verification;

// The drill's directory: made here by the service (0711: the drill user passes through to the
// servers' directories the drivers make in it, and can rename nothing in it), removed when the
// drill ends. What the drill user owns inside is removed by that user (`rm` run as it): root
// walking directories another user can change would be a lever for that user.
class DrillDir {
 public:
  static absl::StatusOr<DrillDir> Make(const common::DrillsConfig& drills,
                                       const std::string& backup_id,
                                       const common::ChildOptions& user) {
    std::string parent = drills.work_dir;
    if (parent.empty()) {
      const char* tmp = getenv("TMPDIR");
      parent = tmp && *tmp == '/' ? tmp : "/tmp";
    }
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    std::string tmpl = absl::StrCat(parent, "/mdb-drill-", backup_id, "-XXXXXX");
    if (!mkdtemp(tmpl.data())) {
      return absl::UnavailableError(
          absl::StrCat("cannot make a drill directory under '", parent, "': ", strerror(errno)));
    }
    DrillDir dir(tmpl, user);
    if (chmod(tmpl.c_str(), 0711) != 0) {
      return absl::UnavailableError(absl::StrCat("chmod '", tmpl, "': ", strerror(errno)));
    }
    return dir;
  }
  DrillDir(DrillDir&& o) noexcept : path_(std::move(o.path_)), user_(o.user_) { o.path_.clear(); }
  ~DrillDir() {
    if (path_.empty()) return;
    std::error_code ec;
    if (user_.uid >= 0) {
      // The drill user empties the directories it owns (find -delete follows no link); root
      // then removes the emptied directories from its own one, where nobody else can rename.
      for (const auto& entry : std::filesystem::directory_iterator(path_, ec)) {
        const std::string sub = entry.path().string();
        auto emptied = common::RunToEnd({"/usr/bin/find", sub, "-mindepth", "1", "-delete"}, user_,
                                        absl::Minutes(30), nullptr);
        if (!emptied.ok() || emptied->exit_code != 0) {
          common::Log(common::LogLevel::kWarning, "drill",
                      absl::StrCat("emptying '", sub, "' as the drill user: ",
                                   emptied.ok() ? emptied->output
                                                : std::string(emptied.status().message())));
        }
        rmdir(sub.c_str());
      }
      if (rmdir(path_.c_str()) != 0) ec = std::error_code(errno, std::generic_category());
    } else {
      std::filesystem::remove_all(path_, ec);  // ours alone: no other user in between
    }
    if (ec) {
      common::Log(common::LogLevel::kWarning, "drill",
                  absl::StrCat("could not remove '", path_, "': ", ec.message()));
    }
  }
  const std::string& path() const { return path_; }

 private:
  DrillDir(std::string path, const common::ChildOptions& user)
      : path_(std::move(path)), user_(user) {}
  std::string path_;
  common::ChildOptions user_;
};

// Who the throwaway servers run as: the configured user; when we are root and none is set,
// `nobody` (PostgreSQL refuses to run as root, and no drill server needs root's powers).
absl::Status DrillUser(const common::DrillsConfig& drills, common::ChildOptions* out) {
  // A restored database is hostile input (docs/security.md): say so where its servers run with
  // more than a user of their own would have.
  static std::once_flag warned;
  if (drills.run_as.empty()) {
    std::call_once(warned, [] {
      common::Log(common::LogLevel::kWarning, "drill",
                  geteuid() == 0 ? "local drill servers run as 'nobody', which other daemons may "
                                   "share: set server.drills.run_as to a user of their own"
                                 : "local drill servers run as this service's own user, who can "
                                   "read its repository key and catalog: run the service as root "
                                   "with server.drills.run_as, or drill into scratch clusters");
    });
  }
  if (drills.run_as.empty() && geteuid() != 0) return absl::OkStatus();
  const std::string name = drills.run_as.empty() ? "nobody" : drills.run_as;
  auto ids = common::LookupUser(name);
  if (!ids.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("server.drills.run_as: ", ids.status().message(), "; name an existing user"));
  }
  if (geteuid() != 0 && static_cast<uid_t>(ids->first) != geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("server.drills.run_as '", name, "' needs the service to run as root"));
  }
  if (geteuid() == 0) {
    out->uid = ids->first;
    out->gid = ids->second;
  }
  return absl::OkStatus();
}

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.1f s", absl::ToDoubleSeconds(d));
}

}  // namespace

absl::StatusOr<Verification> Jobs::Drill(const catalog::BackupRecord& backup,
                                         const common::ClusterConfig* scratch,
                                         const common::DrillsConfig& drills,
                                         const std::vector<common::ClusterConfig>& clusters,
                                         const TaskContext& task) {
  if (!repository_) return absl::FailedPreconditionError("no repository is configured");
  // Each drill starts servers: at most max_concurrent at once, the others wait their turn.
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (drills_running_ < drills.max_concurrent) {
        ++drills_running_;
        break;
      }
    }
    if (task.cancelled.load())
      return absl::CancelledError("drill cancelled while waiting its turn");
    absl::SleepFor(absl::Milliseconds(200));
  }
  struct Slot {
    Jobs* jobs;
    ~Slot() {
      std::lock_guard<std::mutex> lock(jobs->mu_);
      --jobs->drills_running_;
    }
  } slot{this};
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(auto driver, engines_.MakeDriver(backup.engine()));
  ASSIGN_OR_RETURN(repo::Manifest manifest, repository_->ReadManifest(backup.id()));
  // One drill at a time per scratch cluster, across instances: each empties it.
  const std::string lease = scratch ? absl::StrCat("scratch/", scratch->id) : "";
  const std::string owner = common::NewId();
  if (scratch) {
    auto held = catalog_->TryLease(lease, owner, absl::Now(), absl::Now() + absl::Hours(12));
    if (!held.ok()) return held.status();
    if (!*held) {
      return absl::FailedPreconditionError(absl::StrCat(
          "scratch cluster '", scratch->id, "' is in use by another drill; try again after it"));
    }
  }
  struct Lease {
    catalog::Catalog* catalog;
    const std::string& name;
    const std::string& owner;
    ~Lease() {
      if (!name.empty()) (void)catalog->ReleaseLease(name, owner);
    }
  } release{catalog_, lease, owner};
  // Before each emptying of a scratch cluster, by what its addresses resolve to then: it is no
  // other declared cluster's server (the config's load compared them as written).
  auto apart = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::string shared,
                     common::SharedServer(*scratch, clusters, common::SystemServerIdentity()));
    if (shared.empty()) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "scratch cluster '", scratch->id, "' is not emptied: ", shared,
        " (by what the addresses resolve to now); give the scratch cluster servers of its own"));
  };
  // Refused: nothing is tried, nothing recorded. (Checked again before the emptying after.)
  if (scratch) RETURN_IF_ERROR(apart());
  Verification v;
  v.set_target(scratch ? scratch->id : "local");
  std::vector<std::string> checked;
  std::vector<std::string> steps;  // where the time went, for the log
  absl::Status result = [&]() -> absl::Status {
    common::ChildOptions process{.memory_mb = drills.memory_mb};
    std::optional<DrillDir> dir;
    std::unique_ptr<engine::Scratch> servers;
    const common::ClusterConfig* target = scratch;
    if (!scratch) {
      RETURN_IF_ERROR(DrillUser(drills, &process));
      ASSIGN_OR_RETURN(DrillDir made, DrillDir::Make(drills, backup.id(), process));
      dir.emplace(std::move(made));
      auto binary = drills.binaries.find(std::string(engines_.table().Name(backup.engine())));
      ASSIGN_OR_RETURN(
          servers,
          driver->PrepareScratch({.manifest = &manifest,
                                  .dir = dir->path(),
                                  .binary = binary == drills.binaries.end() ? "" : binary->second,
                                  .process = process,
                                  .cancelled = &task.cancelled}));
      RETURN_IF_ERROR(servers->BeforeRestore());
      target = &servers->target();
    } else {
      RETURN_IF_ERROR(common::WithContext(driver->EmptyScratch(*scratch, &task.cancelled),
                                          "emptying the scratch cluster before the drill"));
    }
    // From here on the scratch cluster holds this drill's data: nobody else's emptying (another
    // drill, another instance) may come in between (the lease below).
    const absl::Time restore_start = absl::Now();
    absl::Status st = RestoreInto(backup, *target, task, std::nullopt, "", /*durable=*/false);
    steps.push_back(absl::StrCat("restore ", Seconds(absl::Now() - restore_start)));
    if (st.ok() && servers) {
      const absl::Time started = absl::Now();
      st = servers->AfterRestore();
      steps.push_back(absl::StrCat("servers ready ", Seconds(absl::Now() - started)));
    }
    const absl::Time check_start = absl::Now();
    if (st.ok()) {
      checked.push_back("restored: every chunk read back and checked against its hash");
      auto verified = driver->VerifyRestored({.manifest = &manifest,
                                              .repository = repository_,
                                              .target = target,
                                              .scratch = servers.get(),
                                              .process = process,
                                              .cancelled = &task.cancelled});
      if (!verified.ok()) {
        st = verified.status();
      } else {
        checked.insert(checked.end(), verified->checked.begin(), verified->checked.end());
        if (!verified->problems.empty()) {
          st = absl::DataLossError(absl::StrJoin(verified->problems, "; "));
        }
      }
    }
    steps.push_back(absl::StrCat("checks ", Seconds(absl::Now() - check_start)));
    if (scratch) {  // restored data does not stay on the scratch cluster between drills
      // Also after a cancel: its own flag, which nothing sets (the calls have their timeouts).
      const std::atomic<bool> cleanup_cancelled{false};
      absl::Status emptied = apart();
      if (emptied.ok()) emptied = driver->EmptyScratch(*scratch, &cleanup_cancelled);
      if (!emptied.ok()) {
        common::Log(common::LogLevel::kWarning, "drill",
                    absl::StrCat("scratch cluster '", scratch->id,
                                 "' not emptied after the drill: ", emptied.message()));
      }
    }
    return st;  // servers stop, then the directory goes (declaration order, reversed)
  }();
  if (absl::IsCancelled(result) || task.cancelled.load()) {
    return absl::CancelledError(absl::StrCat("drill of backup '", backup.id(), "' cancelled"));
  }
  // What the drill's environment lacked (a store or a server unreachable, no space) proves
  // nothing about the backup: an error of the operation, not a failed verification.
  if (absl::IsUnavailable(result) || absl::IsResourceExhausted(result)) {
    return common::WithContext(result, absl::StrCat("the drill of backup '", backup.id(),
                                                    "' could not run; nothing was recorded"));
  }
  const absl::Time end = absl::Now();
  v.set_ok(result.ok());
  *v.mutable_verified_at() = common::ToProto(end);
  v.set_duration_ms(absl::ToInt64Milliseconds(end - start));
  for (const auto& c : checked) v.add_checked(common::CleanUtf8(c, common::kMaxStoredMessageBytes));
  if (!result.ok()) {
    v.set_message(common::CleanUtf8(result.message(), common::kMaxStoredMessageBytes));
  }
  // Kept in the repository beside the manifest first (what a rebuilt catalog reads back), then
  // on the backup's record, changing only that field (journal accounting writes the same row).
  if (absl::Status kept = repository_->PutVerification(backup.id(), v.SerializeAsString());
      !kept.ok()) {
    common::Log(
        common::LogLevel::kWarning, "drill",
        absl::StrCat("the result of the drill of backup '", backup.id(),
                     "' is in the catalog only (a catalog rebuild loses it): ", kept.message()));
  }
  // The newer of two drills of one backup that ended together stays (as in the repository,
  // most likely: the order of their writes there is not known here).
  absl::Status recorded = catalog_->ModifyBackup(backup.id(), [&v](catalog::BackupRecord* r) {
    if (!r->has_verification() ||
        common::FromProto(r->verification().verified_at()) <= common::FromProto(v.verified_at())) {
      *r->mutable_verification() = v;
    }
    return absl::OkStatus();
  });
  if (absl::IsNotFound(recorded)) {
    return absl::NotFoundError(
        absl::StrCat("backup '", backup.id(), "' was deleted during its drill; nothing recorded"));
  }
  RETURN_IF_ERROR(recorded);
  metrics::Metrics::Get().DrillEnded(std::string(engines_.table().Name(backup.engine())),
                                     backup.cluster_id(), v.ok(), end);
  common::Log(v.ok() ? common::LogLevel::kInfo : common::LogLevel::kWarning, "drill",
              absl::StrCat("drill of backup '", backup.id(), "' of cluster '", backup.cluster_id(),
                           "': ", v.ok() ? "passed" : absl::StrCat("FAILED: ", v.message()), " (",
                           Seconds(end - start), ": ", absl::StrJoin(steps, ", "), ")"));
  return v;
}

}  // namespace mdb::ops
