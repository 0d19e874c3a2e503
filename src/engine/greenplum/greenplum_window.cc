// How far the archived WAL carries a restore of each backup: the walk Restore's PlanJournal
// makes (ChainFrom), taken for every shard of every backup from one listing of the journal, for
// the cluster's restorable window (ops/recovery_window.h).
#include <map>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/greenplum/wal_names.h"

namespace mdb::engine::greenplum {

SegmentChain ChainFrom(const std::vector<ArchivedSegment>& shard_segments,
                       const mdb_backup::v1::PgShardBackup& shard) {
  SegmentChain chain;
  std::optional<Lsn> start = ParseLsn(shard.start_lsn());
  if (!start) return chain;
  for (const auto& s : shard_segments) {
    if (s.end <= *start) continue;  // before the base: not needed
    // Only this backup's history: another system's WAL at the same address (a new initdb), or
    // another timeline's (a shard restored in place before the backup), is not its journal.
    if (!s.system_id.empty() && !shard.system_id().empty() && s.system_id != shard.system_id()) {
      continue;
    }
    if (shard.timeline() > 0 && s.timeline != static_cast<uint32_t>(shard.timeline())) continue;
    if (chain.segments.empty() ? s.start > *start : s.start != chain.segments.back().end) {
      chain.gap = true;  // pruned, or the slot was recreated: WAL is missing from here
      chain.gap_after =
          chain.segments.empty() ? shard.start_lsn() : FormatLsn(chain.segments.back().end);
      break;
    }
    chain.segments.push_back(s);
    std::optional<absl::Time> ends = s.EndsBy();
    if (ends) chain.last_end = std::max(chain.last_end, *ends);
  }
  return chain;
}

absl::StatusOr<std::vector<std::optional<JournalReach>>> GreenplumDriver::JournalReaches(
    repo::JournalStore* journal, const std::string& cluster_id,
    const std::vector<const repo::Manifest*>& manifests) {
  ASSIGN_OR_RETURN(auto all, ListSegments(journal, cluster_id, ""));
  std::map<std::string, std::vector<ArchivedSegment>> by_shard;  // in position order, as listed
  for (auto& s : all) by_shard[s.shard].push_back(std::move(s));
  std::vector<std::optional<JournalReach>> out;
  for (const repo::Manifest* manifest : manifests) {
    mdb_backup::v1::PgBackup meta;
    std::optional<JournalReach> reach;
    if (manifest && meta.ParseFromString(manifest->engine_metadata()) && meta.shards_size() > 0) {
      // The cluster reaches what its slowest shard reaches: a restore needs every one there.
      // A shard with nothing archived past the backup yet (and no gap) leaves the backup its
      // own point only; a gap anywhere is reported as such.
      bool nothing_yet = false;
      for (const auto& shard : meta.shards()) {
        SegmentChain chain = ChainFrom(by_shard[shard.name()], shard);
        if (chain.segments.empty() && !chain.gap) {
          nothing_yet = true;
          continue;
        }
        // A gap right at the start, or WAL without a commit, reaches no time past the backup's
        // own point.
        const absl::Time until = chain.last_end;
        if (!reach || until < reach->until) {
          reach = JournalReach{
              .until = until,
              .stopped = chain.gap
                             ? absl::StrCat("shard '", shard.name(),
                                            "': the archived WAL has a gap after ", chain.gap_after)
                             : absl::StrCat("shard '", shard.name(),
                                            "': the last transaction in the archived WAL"),
              .gap = chain.gap};
        }
      }
      if (nothing_yet && !(reach && reach->gap)) reach.reset();
    }
    out.push_back(std::move(reach));
  }
  return out;
}

}  // namespace mdb::engine::greenplum
