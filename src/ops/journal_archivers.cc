#include "ops/journal_archivers.h"

#include "absl/strings/str_cat.h"
#include "metrics/metrics.h"

namespace mdb::ops {
namespace {

// What a cluster's archiver depends on, to restart it when the declaration changes.
std::string Declaration(const common::ClusterConfig& c) {
  std::string out = absl::StrCat(c.id, "|", c.engine);
  for (const auto& s : c.shards) {
    absl::StrAppend(&out, "|", s.name);
    for (const auto& h : s.hosts) {
      absl::StrAppend(&out, ",", h.address);
      for (const auto& [k, v] : h.options) absl::StrAppend(&out, ";", k, "=", v);
    }
  }
  return out;
}

}  // namespace

void JournalArchivers::Apply(const common::Config& config) {
  if (!repository_) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, Archiver> next;
  for (const auto& cluster : config.clusters) {
    if (cluster.restore_target) continue;       // restored into, never a source
    if (owns_ && !owns_(cluster.id)) continue;  // another instance's (or the catalog is away)
    std::string decl = Declaration(cluster);
    auto it = archivers_.find(cluster.id);
    if (it != archivers_.end() && it->second.declaration == decl) {
      next[cluster.id] = std::move(it->second);
      continue;
    }
    if (it != archivers_.end()) it->second.journal.reset();  // changed: stop the old one first
    auto driver = engines_.MakeDriver(cluster.engine);
    if (!driver.ok()) continue;
    auto copy = std::make_shared<common::ClusterConfig>(cluster);
    auto journal = (*driver)->StartJournal(
        {.cluster = copy.get(),
         .journal = &repository_->journal(),
         .on_piece =
             [this, copy](const engine::JournalPiece& piece) {
               metrics::Metrics::Get().JournalPiece(
                   std::string(engines_.table().Name(copy->engine)), copy->id, piece.shard,
                   copy->shards.size(), absl::Now(), piece.stored_bytes);
               if (absl::Status st = keeper_->AddPiece(*copy, piece); !st.ok()) {
                 log_(absl::StrCat("journal accounting of '", copy->id, "': ", st.message()));
               }
             },
         .log = log_});
    if (journal) next[cluster.id] = {decl, std::move(journal)};
  }
  for (const auto& [id, a] : archivers_) {
    if (!next.count(id)) log_(absl::StrCat("journal archiving of '", id, "' stops here"));
  }
  archivers_ = std::move(next);  // archivers of clusters no longer declared or owned stop here
}

void JournalArchivers::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  archivers_.clear();
}

std::vector<std::string> JournalArchivers::Running() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, a] : archivers_) ids.push_back(id);
  return ids;
}

}  // namespace mdb::ops
