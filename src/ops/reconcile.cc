#include "ops/reconcile.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/time_util.h"
#include "engine/engine.h"

namespace mdb::ops {
absl::StatusOr<std::vector<catalog::BackupRecord>> AllBackupsOf(catalog::Catalog* catalog,
                                                                common::Engine engine,
                                                                const std::string& cluster_id) {
  std::vector<catalog::BackupRecord> out;
  catalog::ListQuery q{.engine = engine, .cluster_id = cluster_id, .page_size = 1000};
  for (;;) {
    ASSIGN_OR_RETURN(catalog::ListPage page, catalog->ListBackups(q));
    for (auto& b : page.backups) out.push_back(std::move(b));
    if (page.next_page_token.empty()) return out;
    q.page_token = page.next_page_token;
  }
}

std::string ServiceRecord(const catalog::BackupRecord& partial) {
  return partial.SerializeAsString();
}

absl::StatusOr<catalog::BackupRecord> RecordFromManifest(const repo::Manifest& m) {
  if (m.service_record().empty()) {
    return absl::NotFoundError(
        absl::StrCat("manifest '", m.backup_id(), "' has no service record"));
  }
  catalog::BackupRecord rec;
  if (!rec.ParseFromString(m.service_record())) {
    return absl::DataLossError(
        absl::StrCat("the service record of backup '", m.backup_id(), "' is damaged"));
  }
  rec.set_id(m.backup_id());
  rec.set_parent_id(m.parent_id());
  *rec.mutable_started_at() = m.started_at();
  *rec.mutable_created_at() = m.created_at();
  rec.set_size(static_cast<int64_t>(m.stored_bytes()));
  rec.set_added_size(static_cast<int64_t>(m.added_bytes()));
  rec.set_journal_size(static_cast<int64_t>(m.journal_bytes()));
  if (rec.logical_size() < 0) rec.set_logical_size(static_cast<int64_t>(m.logical_bytes()));
  if (rec.restore_size() < 0) rec.set_restore_size(static_cast<int64_t>(m.logical_bytes()));
  return rec;
}

absl::Status RecomputeJournalSizes(catalog::Catalog* catalog, repo::Repository* repository,
                                   engine::Driver& driver, common::Engine engine,
                                   const std::string& cluster_id, std::set<std::string>* counted) {
  ASSIGN_OR_RETURN(std::vector<engine::JournalPiece> pieces,
                   driver.ListJournal(&repository->journal(), cluster_id));
  // Engines whose journal lives inside their backups (MongoDB's oplog window) have no pieces:
  // their journal sizes, merges on delete included, stay as recorded.
  if (pieces.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto backups, AllBackupsOf(catalog, engine, cluster_id));
  struct Entry {
    catalog::BackupRecord rec;
    std::map<std::string, uint64_t> starts;
    int64_t listed = 0;  // the journal size the catalog had
  };
  std::vector<Entry> entries;  // newest first, as the live accounting looks
  for (auto& b : backups) {
    auto m = repository->ReadManifest(b.id());
    if (absl::IsNotFound(m.status())) continue;  // imported records: no manifest, no journal
    if (!m.ok()) return m.status();
    Entry e{std::move(b), driver.JournalStarts(*m), 0};
    e.listed = e.rec.journal_size();
    e.rec.set_journal_size(static_cast<int64_t>(m->journal_bytes()));
    entries.push_back(std::move(e));
  }
  for (const auto& piece : pieces) {
    if (counted) counted->insert(piece.object);
    for (auto& e : entries) {
      auto start = e.starts.find(piece.shard);
      if (start == e.starts.end() || start->second >= piece.end) continue;
      e.rec.set_journal_size(e.rec.journal_size() + static_cast<int64_t>(piece.stored_bytes));
      break;
    }
  }
  // Only the journal size changes (a drill may record a verification on a row meanwhile), only
  // where it differs (one transaction each); a row deleted since (by another instance) stays
  // deleted.
  for (const auto& e : entries) {
    if (e.rec.journal_size() == e.listed) continue;
    const int64_t size = e.rec.journal_size();
    absl::Status st = catalog->ModifyBackup(e.rec.id(), [size](catalog::BackupRecord* r) {
      r->set_journal_size(size);
      return absl::OkStatus();
    });
    if (!st.ok() && !absl::IsNotFound(st)) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<ReconcileReport> Reconcile(catalog::Catalog* catalog, repo::Repository* repository,
                                          const std::vector<common::ClusterConfig>& clusters,
                                          const engine::EngineRegistry& engines) {
  ReconcileReport report;
  ASSIGN_OR_RETURN(std::vector<std::string> ids, repository->ListBackups());
  // What older versions of a driver stored in another form is moved first (WAL segments that
  // were backups of their own before the journal store); what cannot be moved is reported.
  int moved = 0;
  for (const common::EngineInfo& row : engines.table().rows()) {
    ASSIGN_OR_RETURN(auto driver, engines.MakeDriver(row.engine));
    ASSIGN_OR_RETURN(engine::UpgradeReport upgrade, driver->UpgradeRepository(repository, ids));
    if (upgrade.moved > 0) {
      report.upgraded.push_back(
          absl::StrCat(upgrade.moved, " object(s) of ", std::string(row.name)));
    }
    for (auto& p : upgrade.problems) report.unreadable.push_back(std::move(p));
    moved += upgrade.moved;
  }
  if (moved > 0) {
    ASSIGN_OR_RETURN(ids, repository->ListBackups());
  }
  ASSIGN_OR_RETURN(std::vector<std::string> catalog_ids, catalog->ListAllBackupIds());
  const std::set<std::string> listed(catalog_ids.begin(), catalog_ids.end());  // one query
  std::vector<catalog::BackupRecord> add;
  std::set<std::pair<common::Engine, std::string>> touched;
  for (const auto& id : ids) {
    if (listed.count(id)) continue;
    auto read = repository->ReadManifest(id);
    if (!read.ok()) {
      // Damaged, or gone since the listing: reported, never a reason not to start.
      report.unreadable.push_back(absl::StrCat(id, ": ", read.status().message()));
      continue;
    }
    const repo::Manifest& m = *read;
    auto rec = RecordFromManifest(m);
    if (!rec.ok()) {
      // Journal pieces (every stream a journal) are not backups; anything else is reported.
      bool journal = m.streams_size() > 0 &&
                     std::all_of(m.streams().begin(), m.streams().end(), [](const auto& s) {
                       return absl::StartsWith(s.name(), "journal/");
                     });
      if (!journal) report.unrecorded.push_back(id);
      continue;
    }
    // What the drills proved of it, kept beside the manifest (a damaged one is reported).
    auto verification = repository->ReadVerification(id);
    if (verification.ok()) {
      // A time before the backup existed or ahead of now is no drill's (a forged or damaged
      // record would otherwise stop the scheduler drilling the cluster).
      const bool parsed = rec->mutable_verification()->ParseFromString(*verification);
      const absl::Time at = common::FromProto(rec->verification().verified_at());
      if (!parsed || at < common::FromProto(rec->created_at()) ||
          at > absl::Now() + absl::Minutes(5)) {
        rec->clear_verification();
        report.unreadable.push_back(absl::StrCat(id, ": its verification is damaged"));
      }
    } else if (!absl::IsNotFound(verification.status())) {
      report.unreadable.push_back(
          absl::StrCat(id, ": its verification: ", verification.status().message()));
    }
    touched.insert({rec->engine(), rec->cluster_id()});
    report.added.push_back(id);
    add.push_back(std::move(*rec));
  }
  if (!add.empty()) RETURN_IF_ERROR(catalog->PutBackups(add));
  for (const auto& [engine, cluster_id] : touched) {
    auto driver = engines.MakeDriver(engine);
    absl::Status st = driver.ok()
                          ? RecomputeJournalSizes(catalog, repository, **driver, engine, cluster_id)
                          : driver.status();
    if (!st.ok()) {
      report.unreadable.push_back(absl::StrCat("journal of '", cluster_id, "': ", st.message()));
    }
  }
  std::set<std::string> present(ids.begin(), ids.end());
  for (const auto& c : clusters) {
    ASSIGN_OR_RETURN(auto rows, AllBackupsOf(catalog, c.engine, c.id));
    for (const auto& r : rows) {
      if (!present.count(r.id())) report.missing.push_back(r.id());
    }
  }
  return report;
}

}  // namespace mdb::ops
