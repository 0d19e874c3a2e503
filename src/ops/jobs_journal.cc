// Journal accounting and the archivers' lifecycle. A backup's journal_size is the stored bytes
// of journal from its start to the next backup's start: each committed piece is added to the
// newest backup it continues (by the engine's journal positions), and a deleted backup's share
// moves to its older neighbour (Forget in jobs.cc).
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/time_util.h"
#include "ops/jobs.h"

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

absl::Status Jobs::AddJournal(const common::ClusterConfig& cluster,
                              const engine::JournalPiece& piece) {
  ASSIGN_OR_RETURN(auto driver, engines_.MakeDriver(cluster.engine));
  std::lock_guard<std::mutex> lock(journal_mu_);
  if (recounted_pieces_[cluster.id].erase(piece.object) > 0) return absl::OkStatus();  // counted
  // Newest first: the piece almost always continues the newest backup.
  catalog::ListQuery q{.engine = cluster.engine, .cluster_id = cluster.id, .page_size = 50};
  ASSIGN_OR_RETURN(catalog::ListPage page, catalog_->ListBackups(q));
  for (const auto& b : page.backups) {
    auto cached = journal_starts_.find(b.id());
    if (cached == journal_starts_.end()) {
      auto m = repository_->ReadManifest(b.id());
      if (!m.ok()) continue;  // imported records have no manifest
      cached = journal_starts_.emplace(b.id(), driver->JournalStarts(*m)).first;
    }
    auto start = cached->second.find(piece.shard);
    if (start == cached->second.end() || start->second >= piece.end) continue;
    catalog::BackupRecord rec = b;
    rec.set_journal_size(rec.journal_size() + static_cast<int64_t>(piece.stored_bytes));
    return catalog_->PutBackup(rec);
  }
  return absl::OkStatus();  // older than every backup: no backup's journal (pruned later)
}

absl::Status Jobs::PruneJournal(common::Engine engine, const std::string& cluster_id) {
  if (!repository_) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto driver, engines_.MakeDriver(engine));
  common::ClusterConfig c{.id = cluster_id, .engine = engine};
  ASSIGN_OR_RETURN(auto all, AllBackups(c));
  // Per shard, the oldest start among the remaining backups: journal before it is useless.
  std::map<std::string, uint64_t> keep_from;
  for (const auto& b : all) {
    auto m = repository_->ReadManifest(b.id());
    if (!m.ok()) continue;
    for (const auto& [shard, start] : driver->JournalStarts(*m)) {
      auto it = keep_from.find(shard);
      if (it == keep_from.end() || start < it->second) keep_from[shard] = start;
    }
  }
  if (keep_from.empty() && !all.empty()) return absl::OkStatus();  // nothing known: keep all
  return driver->PruneJournal(repository_, cluster_id, keep_from);
}

void Jobs::ApplyJournals(const common::Config& config) {
  if (!repository_) return;
  std::lock_guard<std::mutex> lock(archivers_mu_);
  std::map<std::string, Archiver> next;
  for (const auto& cluster : config.clusters) {
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
         .repository = repository_,
         .on_piece =
             [this, copy](const engine::JournalPiece& piece) {
               if (absl::Status st = AddJournal(*copy, piece); !st.ok()) {
                 fprintf(stderr, "mdb-backupd: journal accounting of '%s': %s\n", copy->id.c_str(),
                         std::string(st.message()).c_str());
               }
             },
         .log =
             [](const std::string& line) { fprintf(stderr, "mdb-backupd: %s\n", line.c_str()); }});
    if (journal) next[cluster.id] = {decl, std::move(journal)};
  }
  archivers_ = std::move(next);  // archivers of clusters no longer declared stop here
}

void Jobs::StopJournals() {
  std::lock_guard<std::mutex> lock(archivers_mu_);
  archivers_.clear();
}

}  // namespace mdb::ops
