// Greenplum and PostgreSQL: a physical BASE backup of every segment (shard) over the replication
// protocol, WAL included, then one restore point on every segment (cut.h: gp_create_restore_point
// where the coordinator has it); restore unpacks each segment into a fresh data directory. A
// cluster is declared segment by segment, or by its coordinator (segments.h).
#pragma once

#include "engine/engine.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::greenplum {

// Host options: `user` (default postgres), `password` or `password_file`, and for restore
// targets `data_dir`: the empty directory to unpack the segment into (created if absent; files
// take the owner of an existing directory).
// `wal_archive: "off"` on a shard's first host turns its WAL archiving off; `wal_slot` names the
// replication slot (default mdb_backup).
class GreenplumDriver final : public Driver {
 public:
  // INCREMENTAL: a backup reads every segment again but stores only the pages changed since its
  // parent began (page_archive.h); the archives are cut into chunks at page groups.
  Capabilities capabilities() const override {
    return {.incremental = true, .point_in_time = true};
  }
  absl::StatusOr<BackupResult> Backup(const BackupRequest& request) override;
  absl::Status Restore(const RestoreRequest& request) override;
  std::unique_ptr<Journal> StartJournal(const JournalOptions& options) override;
  std::map<std::string, uint64_t> JournalStarts(const repo::Manifest& manifest) override;
  absl::StatusOr<std::vector<JournalPiece>> ListJournal(repo::JournalStore* journal,
                                                        const std::string& cluster_id) override;
  absl::Status PruneJournal(repo::JournalStore* journal, const std::string& cluster_id,
                            const std::map<std::string, uint64_t>& keep_from) override;
  absl::StatusOr<std::vector<std::optional<JournalReach>>> JournalReaches(
      repo::JournalStore* journal, const std::string& cluster_id,
      const std::vector<const repo::Manifest*>& manifests) override;
  std::vector<CheckItem> Check(const common::ClusterConfig& cluster,
                               const std::atomic<bool>* cancelled) override;
  std::vector<std::string> LeftOnServers(const common::ClusterConfig& cluster) override;
  absl::StatusOr<UpgradeReport> UpgradeRepository(
      repo::Repository* repository, const std::vector<std::string>& backup_ids) override;
  // Drills (greenplum_drill.cc): throwaway postgres servers, pg_amcheck.
  absl::StatusOr<std::unique_ptr<Scratch>> PrepareScratch(const ScratchRequest& request) override;
  absl::StatusOr<VerifyResult> VerifyRestored(const VerifyRequest& request) override;
};

// The archived WAL segments of one shard, in position order, with when each was committed.
struct ArchivedSegment {
  std::string shard;
  std::string object;     // its journal store key
  std::string file;       // WAL file name
  std::string system_id;  // of the cluster that wrote it; empty in segments of older versions
  uint32_t timeline = 0;
  uint64_t start = 0, end = 0;
  uint64_t journal_bytes = 0;  // stored bytes
  absl::Time committed;
  // Read from the segment at archiving (PieceName): whether its transaction ends are known, and
  // the time of the last one (nullopt: it has none). Segments of older versions: unknown.
  bool ends_known = false;
  std::optional<absl::Time> last_end;
  repo::JournalPieceInfo piece;  // what the journal store reads it by

  // What point-in-time decisions go by: the last transaction end where it was read, else the
  // time the segment was stored (later than any commit in it). nullopt: no transaction in it.
  std::optional<absl::Time> EndsBy() const {
    return ends_known ? last_end : std::optional(committed);
  }
};

// `shard` empty: every shard's.
absl::StatusOr<std::vector<ArchivedSegment>> ListSegments(repo::JournalStore* journal,
                                                          const std::string& cluster_id,
                                                          const std::string& shard);

// The archived segments a restore of a shard's backup replays: from its base on, only its own
// system's and timeline's, as long as each follows the last; `gap` when a missing segment
// stopped the walk (later ones exist), `gap_after` the position where.
struct SegmentChain {
  std::vector<ArchivedSegment> segments;
  bool gap = false;
  std::string gap_after;
  // The time of the chain's last transaction end: what a restore of it reaches. For segments
  // archived before their transaction ends were read, the time they were stored (later than
  // their last commit). InfinitePast: no transaction ends past the base.
  absl::Time last_end = absl::InfinitePast();
};
SegmentChain ChainFrom(const std::vector<ArchivedSegment>& shard_segments,
                       const mdb_backup::v1::PgShardBackup& shard);

// Its row of the engine table.
EngineModule Module();

}  // namespace mdb::engine::greenplum
