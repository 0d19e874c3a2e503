// The Greenplum driver's journal hooks: starting the WAL streams, telling which WAL belongs to
// which backup, and pruning WAL that no backup can use.
#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/host_options.h"
#include "common/status.h"
#include "common/time_util.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/greenplum/segments.h"
#include "engine/greenplum/wal_stream.h"
#include "io/stream.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::greenplum {
namespace {

// A cluster declared by its coordinator: its segments are looked up when archiving starts and
// again every minute (segments_refresh_seconds); a segment added or a mirror that took over
// restarts the streams on the new layout. Each stream resumes from its slot; a server that had
// none (new, or a mirror that took over) gets one from the first backup that reads it (made
// before its copy), so WAL from that backup on is kept for the journal.
class DiscoveringJournal final : public Journal {
 public:
  explicit DiscoveringJournal(const JournalOptions& options)
      : options_(options), declared_(*options.cluster) {
    options_.cluster = &declared_;
    int seconds = 0;
    if (absl::SimpleAtoi(common::HostOption(declared_.shards.front().hosts.front(),
                                            "segments_refresh_seconds", "60"),
                         &seconds) &&
        seconds > 0) {
      every_ = absl::Seconds(seconds);
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~DiscoveringJournal() override {
    stop_ = true;
    thread_.join();
  }

 private:
  static std::string Layout(const common::ClusterConfig& c) {
    std::string out;
    for (const auto& s : c.shards) absl::StrAppend(&out, s.name, "=", s.hosts.front().address, ";");
    return out;
  }

  void Run() {
    std::string current;
    std::unique_ptr<WalJournal> streams;
    while (!stop_) {
      auto resolved = ResolveSegments(declared_, &stop_);
      if (!resolved.ok()) {
        if (!stop_ && options_.log) {
          options_.log(absl::StrCat("WAL archiving of cluster '", declared_.id,
                                    "': segments not listed (the streams keep their last "
                                    "layout): ",
                                    resolved.status().message()));
        }
      } else if (std::string layout = Layout(*resolved); layout != current) {
        streams.reset();  // the old layout's streams stop before the new ones start
        if (!current.empty() && options_.log) {
          options_.log(absl::StrCat("WAL archiving of cluster '", declared_.id,
                                    "': the segments changed, now ", layout));
        }
        JournalOptions o = options_;
        o.cluster = &*resolved;  // (copied by the journal)
        streams = std::make_unique<WalJournal>(o);
        current = layout;
      }
      for (absl::Time until = absl::Now() + every_; !stop_ && absl::Now() < until;) {
        absl::SleepFor(absl::Milliseconds(100));
      }
    }
  }

  JournalOptions options_;
  common::ClusterConfig declared_;
  absl::Duration every_ = absl::Minutes(1);  // host option segments_refresh_seconds
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Journal> GreenplumDriver::StartJournal(const JournalOptions& options) {
  const auto& shards = options.cluster->shards;
  if (shards.empty() || shards.front().hosts.empty()) return nullptr;
  auto it = shards.front().hosts.front().options.find("wal_archive");
  if (it != shards.front().hosts.front().options.end() && it->second == "off") return nullptr;
  if (DiscoversSegments(*options.cluster)) return std::make_unique<DiscoveringJournal>(options);
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

namespace {

bool IsWalFileName(const std::string& file) {
  return file.size() == 24 && file.find_first_not_of("0123456789ABCDEF") == std::string::npos;
}

std::optional<ArchivedSegment> FromPiece(const repo::JournalPieceInfo& p) {
  std::vector<std::string> parts = absl::StrSplit(p.name, '.');
  if (parts.size() < 2 || parts.size() > 4 || !IsWalFileName(parts[1])) return std::nullopt;
  ArchivedSegment s{.shard = p.shard,
                    .object = p.key,
                    .file = parts[1],
                    .system_id = parts[0] == "0" ? "" : parts[0],
                    .start = p.start,
                    .end = p.end,
                    .journal_bytes = p.stored_bytes,
                    .committed = p.committed,
                    .piece = p};
  if (!absl::SimpleHexAtoi(parts[1].substr(0, 8), &s.timeline)) return std::nullopt;
  int64_t micros;
  for (size_t i = 2; i < parts.size(); ++i) {
    if (!parts[i].empty() && parts[i][0] == 't') {  // the transaction ends, last
      if (i + 1 != parts.size()) return std::nullopt;
      s.ends_known = true;
      if (parts[i].size() == 1) continue;
      if (!absl::SimpleAtoi(parts[i].substr(1), &micros)) return std::nullopt;
      s.last_end = absl::FromUnixMicros(micros);
    } else {
      if (i != 2 || !absl::SimpleAtoi(parts[i], &micros)) return std::nullopt;
      s.committed = absl::FromUnixMicros(micros);
    }
  }
  return s;
}

// One older segment backup into the store; InvalidArgument for a "wal." backup that is not one.
absl::Status MoveSegment(repo::Repository* repository, const std::string& id) {
  ASSIGN_OR_RETURN(repo::Manifest m, repository->ReadManifest(id));
  std::vector<std::string> parts = absl::StrSplit(m.engine_metadata(), '\t');
  uint64_t start, size;
  const std::string file = id.substr(id.size() - 24);
  if ((parts.size() != 5 && parts.size() != 6) || m.streams_size() != 1 ||
      !absl::SimpleAtoi(parts[1], &start) || !absl::SimpleAtoi(parts[2], &size) ||
      !IsWalFileName(file) || m.streams(0).size() > repo::kMaxJournalPieceBytes) {
    return absl::InvalidArgumentError("not a WAL segment of an older version: left as it is");
  }
  io::StringSink data;
  RETURN_IF_ERROR(repository->RestoreStream(m, m.streams(0).name(), &data));
  SegmentSummary summary = SummarizeSegment(data.data(), start);
  auto put = repository->journal().Put(parts[3], parts[4],
                                       PieceName(parts.size() == 6 ? parts[5] : "", file,
                                                 common::FromProto(m.created_at()), &summary),
                                       start, start + size, data.data());
  if (!put.ok() && !absl::IsAlreadyExists(put.status())) return put.status();
  return repository->DeleteBackup(id);
}

// Every piece as a segment, by position (accounting and pruning need each stored object).
absl::StatusOr<std::vector<ArchivedSegment>> AllSegments(repo::JournalStore* journal,
                                                         const std::string& cluster_id) {
  ASSIGN_OR_RETURN(auto pieces, journal->List(cluster_id));
  std::vector<ArchivedSegment> out;
  for (const auto& p : pieces) {
    if (auto s = FromPiece(p)) out.push_back(*std::move(s));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<ArchivedSegment>> ListSegments(repo::JournalStore* journal,
                                                          const std::string& cluster_id,
                                                          const std::string& shard) {
  ASSIGN_OR_RETURN(auto all, AllSegments(journal, cluster_id));
  std::vector<ArchivedSegment> out;
  for (auto& s : all) {
    if (shard.empty() || s.shard == shard) out.push_back(std::move(s));
  }
  auto key = [](const ArchivedSegment& s) {
    return std::tie(s.shard, s.start, s.end, s.file, s.system_id);
  };
  std::sort(out.begin(), out.end(), [&](const ArchivedSegment& a, const ArchivedSegment& b) {
    if (key(a) != key(b)) return key(a) < key(b);
    if (a.ends_known != b.ends_known) return a.ends_known;
    return a.committed < b.committed;
  });
  // One segment stored twice (moved from an older version with its commit time in the name,
  // and streamed again by an archiver that had not seen the move) is one segment to a restore:
  // the copy whose transaction ends were read is kept, else the earlier commit, so that a
  // point-in-time target never waits on the later copy.
  out.erase(std::unique(out.begin(), out.end(),
                        [&](const ArchivedSegment& a, const ArchivedSegment& b) {
                          return key(a) == key(b);
                        }),
            out.end());
  std::stable_sort(out.begin(), out.end(), [](const ArchivedSegment& a, const ArchivedSegment& b) {
    return a.start != b.start ? a.start < b.start : a.file < b.file;
  });
  return out;
}

absl::StatusOr<std::vector<JournalPiece>> GreenplumDriver::ListJournal(
    repo::JournalStore* journal, const std::string& cluster_id) {
  ASSIGN_OR_RETURN(auto segments, AllSegments(journal, cluster_id));
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

absl::Status GreenplumDriver::PruneJournal(repo::JournalStore* journal,
                                           const std::string& cluster_id,
                                           const std::map<std::string, uint64_t>& keep_from) {
  ASSIGN_OR_RETURN(auto segments, AllSegments(journal, cluster_id));
  for (const auto& s : segments) {
    // A shard no remaining backup has, or WAL before the oldest remaining backup's start.
    auto keep = keep_from.find(s.shard);
    if (keep != keep_from.end() && s.end > keep->second) continue;
    absl::Status st = journal->Delete(s.piece);
    if (!st.ok() && !absl::IsNotFound(st)) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<UpgradeReport> GreenplumDriver::UpgradeRepository(
    repo::Repository* repository, const std::vector<std::string>& backup_ids) {
  // Before the journal store, each segment was a backup of its own: manifest
  // "wal.<cluster>.<shard>.[<system id>.]<WAL file>" with one stream "journal/<shard>/<file>" and
  // "<timeline>\t<start>\t<size>\t<cluster>\t<shard>[\t<system id>]" as engine metadata. Each is
  // copied into the store (with its commit time), then its manifest deleted; the next GC frees
  // its chunks. Interrupted, it resumes at the next start (a piece stored already is kept).
  UpgradeReport report;
  for (const auto& id : backup_ids) {
    if (!absl::StartsWith(id, "wal.") || id.size() < 30 || id[id.size() - 25] != '.') continue;
    absl::Status st = MoveSegment(repository, id);
    if (st.ok()) {
      ++report.moved;
    } else if (!absl::IsNotFound(st)) {  // NotFound: moved since the listing (another start)
      report.problems.push_back(absl::StrCat(id, ": ", st.message()));
    }
  }
  return report;
}

}  // namespace mdb::engine::greenplum
