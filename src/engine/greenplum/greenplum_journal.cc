// The Greenplum driver's journal hooks: starting the WAL streams, telling which WAL belongs to
// which backup, and pruning WAL that no backup can use.
#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "common/time_util.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/greenplum/wal_stream.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::greenplum {

std::unique_ptr<Journal> GreenplumDriver::StartJournal(const JournalOptions& options) {
  const auto& shards = options.cluster->shards;
  if (shards.empty() || shards.front().hosts.empty()) return nullptr;
  auto it = shards.front().hosts.front().options.find("wal_archive");
  if (it != shards.front().hosts.front().options.end() && it->second == "off") return nullptr;
  return std::make_unique<WalJournal>(options);
}

std::map<std::string, uint64_t> GreenplumDriver::JournalStarts(const repo::Manifest& manifest) {
  std::map<std::string, uint64_t> out;
  mdb_backup::v1::PgBackup meta;
  if (!meta.ParseFromString(manifest.engine_metadata())) return out;
  for (const auto& s : meta.shards()) {
    if (auto lsn = ParseLsn(s.start_lsn())) out[s.name()] = *lsn;
  }
  return out;
}

absl::StatusOr<std::vector<ArchivedSegment>> ListSegments(repo::Repository* repository,
                                                          const std::string& cluster_id,
                                                          const std::string& shard) {
  const std::string prefix = "wal." + cluster_id + ".";
  ASSIGN_OR_RETURN(auto ids, repository->ListBackups());
  std::vector<ArchivedSegment> out;
  for (const auto& id : ids) {
    // "wal.<cluster>.<shard>.<24 hex digits>": cheap filter by name, then the metadata decides.
    if (!absl::StartsWith(id, prefix) || id.size() < prefix.size() + 26 ||
        id[id.size() - 25] != '.') {
      continue;
    }
    ASSIGN_OR_RETURN(repo::Manifest m, repository->ReadManifest(id));
    // Engine metadata of a segment: "<timeline>\t<start>\t<size>\t<cluster>\t<shard>" and,
    // since system ids are recorded, "\t<system id>".
    std::vector<std::string> parts = absl::StrSplit(m.engine_metadata(), '\t');
    uint64_t start, size;
    uint32_t timeline;
    if ((parts.size() != 5 && parts.size() != 6) || parts[3] != cluster_id ||
        (!shard.empty() && parts[4] != shard) || !absl::SimpleAtoi(parts[0], &timeline) ||
        !absl::SimpleAtoi(parts[1], &start) || !absl::SimpleAtoi(parts[2], &size)) {
      continue;
    }
    out.push_back({.shard = parts[4],
                   .object = id,
                   .file = id.substr(id.size() - 24),
                   .system_id = parts.size() == 6 ? parts[5] : "",
                   .timeline = timeline,
                   .start = start,
                   .end = start + size,
                   .journal_bytes = m.journal_bytes(),
                   .committed = common::FromProto(m.created_at())});
  }
  std::sort(out.begin(), out.end(), [](const ArchivedSegment& a, const ArchivedSegment& b) {
    return a.start != b.start ? a.start < b.start : a.file < b.file;
  });
  return out;
}

absl::StatusOr<std::vector<JournalPiece>> GreenplumDriver::ListJournal(
    repo::Repository* repository, const std::string& cluster_id) {
  ASSIGN_OR_RETURN(auto segments, ListSegments(repository, cluster_id, ""));
  std::vector<JournalPiece> out;
  for (const auto& s : segments) {
    // The same piece the archiver reported when it committed the segment (wal_stream.cc).
    out.push_back({.shard = s.shard,
                   .object = s.object,
                   .start = s.start,
                   .end = s.end,
                   .stored_bytes = s.journal_bytes});
  }
  return out;
}

absl::Status GreenplumDriver::PruneJournal(repo::Repository* repository,
                                           const std::string& cluster_id,
                                           const std::map<std::string, uint64_t>& keep_from) {
  ASSIGN_OR_RETURN(auto segments, ListSegments(repository, cluster_id, ""));
  for (const auto& s : segments) {
    // A shard no remaining backup has, or WAL before the oldest remaining backup's start.
    auto keep = keep_from.find(s.shard);
    if (keep != keep_from.end() && s.end > keep->second) continue;
    absl::Status st = repository->DeleteBackup(s.object);
    if (!st.ok() && !absl::IsNotFound(st)) return st;
  }
  return absl::OkStatus();
}

}  // namespace mdb::engine::greenplum
