// What a Jobs object holds while work runs: a cluster for a backup or a delete (claimed across
// instances too), and the backups restores read and deletes remove (marked in the repository, so
// that every process sharing it sees them).
#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "ops/jobs.h"

namespace mdb::ops {

absl::StatusOr<Jobs::Held> Jobs::HoldCluster(const std::string& cluster_id, bool backup) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Holders& h = running_[cluster_id];
    if (h.backup) {
      return absl::FailedPreconditionError(absl::StrCat(
          "a backup of cluster '", cluster_id, "' is already running; wait for it to finish"));
    }
    if (backup && h.deletes > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "a delete of a backup of cluster '", cluster_id, "' is running; try again when it ends"));
    }
    if (backup) {
      h.backup = true;
    } else {
      ++h.deletes;
    }
  }
  Held slot([this, cluster_id, backup] {
    // Both under the lock: a renewal (RenewClaims) checks running_ under it after claiming, so
    // it cannot take the claim back once this released it.
    std::lock_guard<std::mutex> lock(mu_);
    auto it = running_.find(cluster_id);
    if (it == running_.end()) return;
    Holders& h = it->second;
    if (backup) {
      h.backup = false;
    } else {
      --h.deletes;
    }
    if (h.backup || h.deletes > 0) return;
    if (h.claimed) claims_.release(cluster_id);
    running_.erase(it);
  });
  if (claims_.claim) {
    auto claimed = claims_.claim(cluster_id);  // outside the lock: a catalog round trip
    if (!claimed.ok()) {
      return absl::UnavailableError(absl::StrCat("cannot tell whether another instance backs up '",
                                                 cluster_id, "': ", claimed.status().message()));
    }
    if (!*claimed) {
      return absl::FailedPreconditionError(
          absl::StrCat("a backup (or a delete) of cluster '", cluster_id,
                       "' is already running on another instance; wait for it to finish"));
    }
    std::lock_guard<std::mutex> lock(mu_);
    running_[cluster_id].claimed = true;  // there while `slot` holds it
  }
  return slot;
}

absl::StatusOr<Jobs::Held> Jobs::Read(const std::vector<std::string>& backup_ids,
                                      std::string* mark_key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& id : backup_ids) {
      if (deleting_.count(id)) {
        return absl::FailedPreconditionError(
            absl::StrCat("backup '", id, "' is being deleted; restore another one"));
      }
    }
    for (const auto& id : backup_ids) ++reading_[id];
  }
  Held here([this, backup_ids] {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& id : backup_ids) {
      if (--reading_[id] == 0) reading_.erase(id);
    }
  });
  if (!repository_) return here;
  // Other processes sharing the repository (instances, the CLI) see them through its mark.
  absl::StatusOr<std::string> mark = repository_->MarkRead(backup_ids);
  if (absl::IsFailedPrecondition(mark.status())) return mark.status();
  if (!mark.ok()) {
    // The mark could not be written (writes refused: a full quota, read-only credentials): the
    // restore is what the bad day needs, so it goes on, held off from deletes here only.
    common::Log(common::LogLevel::kWarning, "jobs",
                absl::StrCat("restore of backup '", backup_ids.front(),
                             "' goes on without its repository mark (", mark.status().message(),
                             "): a delete of it on another instance is not held off"));
    return here;
  }
  if (mark_key != nullptr) *mark_key = *mark;
  return Held([this, here = std::make_shared<Held>(std::move(here)), mark = *mark] {
    repository_->Unmark(mark);
  });
}

absl::StatusOr<Jobs::Held> Jobs::TakeForDelete(std::vector<std::string>* ids,
                                               std::string* held_off) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t asked = ids->size();
    std::erase_if(*ids, [&](const std::string& id) { return reading_.count(id) > 0; });
    if (held_off != nullptr && ids->size() != asked) *held_off = "this instance";
    deleting_.insert(ids->begin(), ids->end());
  }
  auto give_back = [this](const std::vector<std::string>& taken) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& id : taken) deleting_.erase(id);
  };
  const std::vector<std::string> taken = *ids;
  absl::StatusOr<std::string> mark =
      repository_ ? repository_->MarkDelete(ids, held_off) : std::string();
  if (!mark.ok()) {
    give_back(taken);
    ids->clear();
    return mark.status();
  }
  // Those another process restores stay; the rest are this delete's until it is given back.
  std::vector<std::string> read_elsewhere;
  for (const auto& id : taken) {
    if (std::find(ids->begin(), ids->end(), id) == ids->end()) read_elsewhere.push_back(id);
  }
  give_back(read_elsewhere);
  return Held([this, give_back, kept = *ids, mark = *mark] {
    if (repository_) repository_->Unmark(mark);
    give_back(kept);
  });
}

}  // namespace mdb::ops
