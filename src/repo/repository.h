// A backup repository: chunked, deduplicated, compressed, optionally encrypted, checksummed
// backups on any Storage. See docs/format.md for the layout and the crash-safety argument.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "common/thread_pool.h"
#include "io/stream.h"
#include "mdb_backup/v1/repo.pb.h"
#include "repo/chunker.h"
#include "repo/codec.h"
#include "repo/journal_store.h"
#include "repo/lock_keeper.h"
#include "storage/storage.h"

namespace mdb::repo {

using Manifest = ::mdb_backup::v1::Manifest;
// The newest manifest format, written when a stream's chunk ids are of frames (else the one
// before it); a reader takes this one and every one before it (docs/format.md).
inline constexpr int kManifestFormat = 3;
inline constexpr int kManifestFormatBeforeFrameIds = 2;
using Stream = ::mdb_backup::v1::Stream;
// What a stream's chunk ids are of; DataLoss for a value no writer sets.
absl::StatusOr<ChunkIds> IdsOf(const Stream& stream);

struct InitOptions {
  ChunkerParams chunker;                 // ~1 MiB average chunks
  int zstd_level = 1;                    // 1 = fastest; up to 19
  uint32_t pack_target_size = 16 << 20;  // packs are sealed past this size
  std::optional<std::string> key;        // 32-byte key (ReadKeyFile); nullopt = no encryption
};

struct OpenOptions {
  std::optional<std::string> key;  // required iff the repository is encrypted
  // Hash/compress/encrypt/upload workers. One more than the cores: a worker waiting for a pack's
  // upload (fsync, network) leaves the CPU to the others (bench/repo: 3 workers on 2 cores cut a
  // backup from 7.7 s to 5.1 s).
  int threads = 3;
};

// Reads a key file: 32 raw bytes, or 64 hex digits (a trailing newline is fine).
absl::StatusOr<std::string> ReadKeyFile(const std::string& path);

struct VerifyReport {
  int backups_checked = 0;
  uint64_t chunks_checked = 0;
  uint64_t bytes_checked = 0;         // plaintext bytes re-read and re-hashed
  std::vector<std::string> damaged;   // backup ids that cannot be restored intact
  std::vector<std::string> problems;  // one line per problem found
};

struct GcReport {
  int backups = 0;
  int packs_deleted = 0;
  int packs_repacked = 0;   // packs whose live chunks were copied to new packs
  int64_t bytes_freed = 0;  // storage bytes released (deleted minus rewritten)
  int packs_kept = 0;
  uint64_t unreferenced_bytes_kept = 0;  // dead chunks inside packs that still hold live ones
  int incomplete_removed = 0;            // half-written objects of crashed writers
  // The repository as the GC left it (for metrics; no extra reads to gather them).
  uint64_t stored_bytes = 0;   // the live packs
  uint64_t logical_bytes = 0;  // what the live backups hold
  uint64_t chunks = 0;         // distinct chunks the live backups reference
};

struct GcOptions {
  // Half-written objects (temporary files, unfinished multipart uploads) younger than this are
  // left alone, in case a process that does not take repository locks is still writing them.
  absl::Duration incomplete_older_than = absl::Minutes(10);
};

struct RepoStats {
  int backups = 0;
  int packs = 0;
  uint64_t stored_bytes = 0;   // all pack objects
  uint64_t chunks = 0;         // distinct chunks indexed
  uint64_t logical_bytes = 0;  // sum over backups
  int journal_pieces = 0;      // continuous journals' pieces (WAL segments), not backups
  uint64_t journal_bytes = 0;  // their stored bytes
};

class Repository;

// How a stream is cut into chunks (docs/format.md). Content-defined cut points survive inserts
// that shift the data (RDB, BSON, tar); a producer of page-addressed data knows better where a
// change can fall, and marks those places (io::ByteSink::Mark), which costs no scan at all. The
// chunks of a stream cut at marks are named by their zstd frames (ChunkIds::kOfFrame: why is in
// BackupWriterImpl::AddStream), those of a content-defined one by their content.
enum class Chunking { kContentDefined, kAtMarks };

// Writes one backup. AddStream may run concurrently for different streams; Commit and Abort once.
class BackupWriter {
 public:
  virtual ~BackupWriter() = default;
  // Reads `source` to its end as stream `name` (unique within the backup).
  [[nodiscard]] virtual absl::Status AddStream(const std::string& name, io::ByteSource* source,
                                               Chunking chunking) = 0;
  [[nodiscard]] absl::Status AddStream(const std::string& name, io::ByteSource* source) {
    return AddStream(name, source, Chunking::kContentDefined);
  }
  // Adds stream `name` with the contents of `committed`, a stream of a committed backup, without
  // reading them again: for data known to be unchanged (immutable files such as OpenSearch's
  // snapshot blobs). FailedPrecondition if its chunks are no longer in the repository.
  [[nodiscard]] virtual absl::Status AddStreamFrom(const std::string& name,
                                                   const Stream& committed) = 0;
  // Seals the last pack, writes the index, then the manifest: the backup exists from here on.
  // `service_record` is kept in the manifest for the service (Manifest.service_record).
  virtual absl::StatusOr<Manifest> Commit(const std::string& engine_metadata,
                                          const std::string& service_record = "") = 0;
  // Gives up; what was uploaded becomes garbage for the next GC. Idempotent.
  virtual void Abort() = 0;
  // Before Commit: the backup took nothing from its parent after all; its manifest names none.
  virtual void DropParent() = 0;
  // Plaintext bytes read so far, for progress.
  virtual uint64_t bytes_read() const = 0;
};

struct WriterOptions {
  std::string backup_id;  // unique; [A-Za-z0-9._-]
  std::string parent_id;  // the backup an incremental one builds on (recorded only)
  std::string engine;
};

// True when `status` is the refusal of StartBackup or Gc because another writer holds the
// repository: `gc` asks for "a garbage collection is running" (a backup may wait for it), else
// for "a backup is running" (a GC may simply try later). Not a failure of the storage.
bool HeldBy(const absl::Status& status, bool gc);

// Thread-safe.
class Repository {
 public:
  // Creates a repository in empty storage. AlreadyExists if one is there.
  static absl::StatusOr<std::unique_ptr<Repository>> Init(storage::Storage* storage,
                                                          const InitOptions& options);
  // Opens an existing repository. FailedPrecondition if there is none; PermissionDenied with a
  // clear message for a missing or wrong key.
  static absl::StatusOr<std::unique_ptr<Repository>> Open(storage::Storage* storage,
                                                          const OpenOptions& options);
  ~Repository();

  // Starts a backup. Unavailable while garbage collection runs (retry later).
  absl::StatusOr<std::unique_ptr<BackupWriter>> StartBackup(const WriterOptions& options);

  // Committed backups, by id.
  absl::StatusOr<std::vector<std::string>> ListBackups();
  // NotFound; DataLoss when damaged; Unimplemented when written in a newer format.
  absl::StatusOr<Manifest> ReadManifest(const std::string& backup_id);

  // Writes stream `stream` of `manifest` to `sink`, fetching chunks ahead in parallel and
  // checking each against its id. DataLoss names the damaged chunk.
  [[nodiscard]] absl::Status RestoreStream(const Manifest& manifest, const std::string& stream,
                                           io::ByteSink* sink);

  // Removes the backup (its manifest, then its verification); its data is freed by the next Gc.
  [[nodiscard]] absl::Status DeleteBackup(const std::string& backup_id);

  // The newest restore drill's result of a committed backup, opaque here (the service's
  // Verification), kept beside its manifest as `verifications/<backup_id>`: a catalog rebuilt
  // from the repository keeps what the drills proved. Replaces the one before. NotFound when the
  // backup is not (or no longer) in the repository; Read: also when no drill was recorded.
  [[nodiscard]] absl::Status PutVerification(const std::string& backup_id, std::string_view record);
  absl::StatusOr<std::string> ReadVerification(const std::string& backup_id);

  // Re-reads every chunk of the given backups (all when empty) and checks it.
  absl::StatusOr<VerifyReport> Verify(const std::vector<std::string>& backup_ids);

  // Deletes packs no manifest references and leftovers of crashed writers. Unavailable while a
  // backup is being written (by any process).
  absl::StatusOr<GcReport> Gc(const GcOptions& options = {});

  // Marks (docs/format.md "Locks"): a restore's `read` mark on a backup it reads and a delete's
  // `delete` mark on the backups it removes, so that across every process sharing the
  // repository neither takes the other's backup from under it. Each side writes its mark, then
  // looks for the other kind: of a restore and a delete that start together, at least one sees
  // the other and stands back. GC neither waits for marks nor is waited for; it removes dead
  // ones. Kept fresh while held (LockKeeper); Unmark gives one back.
  // One mark names a restore's whole chain, so that a delete sees all of it or none.
  // FailedPrecondition when a live `delete` mark names one of them (that alone: a store's
  // error is Unavailable).
  absl::StatusOr<std::string> MarkRead(const std::vector<std::string>& backup_ids);
  // Leaves in `backup_ids` those no live `read` mark names, marked for delete; the mark's key,
  // "" when none is left. Unavailable while a damaged read mark is fresh (it may name them).
  // `held_off`, when given, says who reads one it left out: "pid P on HOST (its mark ...)".
  absl::StatusOr<std::string> MarkDelete(std::vector<std::string>* backup_ids,
                                         std::string* held_off = nullptr);
  void Unmark(const std::string& key) {
    if (!key.empty()) ReleaseLock(key);
  }
  // When a held mark was last written if the store refused its refreshes for the stale time
  // (it then stopped counting elsewhere); nullopt while it counts.
  std::optional<absl::Time> MarkLapsedSince(const std::string& key) {
    return key.empty() ? std::nullopt : locks_->LapsedSince(key);
  }
  // A failed restore's `status`, told that a delete elsewhere may have removed what it read when
  // one of its held `marks` lapsed; unchanged otherwise (OK, cancelled, every mark counting).
  absl::Status WithLapsedMarks(const absl::Status& status, const std::vector<std::string>& marks);

  absl::StatusOr<RepoStats> Stats();
  // Whether the storage answers for this repository (one Stat of its config object).
  absl::Status Probe();

  const mdb_backup::v1::RepoConfig& config() const { return config_; }
  // No chunk is larger (the bound on every repository's chunk_max_size): an index entry that
  // claims more is damage, refused before a buffer of its size is allocated (a planted entry
  // could otherwise make every restore or verify allocate up to 4 GiB per chunk).
  static constexpr uint32_t kLargestChunk = 64u << 20;
  // Bytes a pack under construction may reach: the target plus one encoded maximal chunk.
  size_t PackReserve() const {
    return config_.pack_target_size() + config_.chunk_max_size() + (config_.chunk_max_size() >> 7) +
           4096;
  }
  storage::Storage* storage() const { return storage_; }
  // Journal pieces (WAL segments): their own object kind beside the backups (journal_store.h).
  JournalStore& journal() { return *journal_; }

 private:
  friend class BackupWriterImpl;
  static constexpr char kVerifications[] = "verifications/";
  static constexpr size_t kMaxVerificationBytes = 1 << 20;  // a drill's record: a few hundred
  absl::Status CheckManifest(const std::string& backup_id);
  struct Location {
    std::string pack_id;  // 16 bytes
    uint64_t offset;
    uint32_t stored_size;
    uint32_t size;
  };
  // DataLoss for an entry larger than kLargestChunk.
  static absl::Status CheckChunkSize(const Location& loc);
  using Index = std::unordered_map<ChunkId, Location, ChunkIdHash>;

  Repository(storage::Storage* storage, mdb_backup::v1::RepoConfig config, Keys keys, int threads);
  absl::Status LoadIndex();
  // Reads index objects written since the last refresh (all of them after a GC elsewhere).
  absl::Status RefreshIndex(bool full = false);
  // Reads every index object from storage into `out`.
  absl::Status ReadIndexObjects(Index* out, std::vector<std::string>* keys);
  absl::Status ReadIndexKeys(const std::vector<std::string>& objects, Index* out,
                             std::vector<std::string>* keys);
  // Find, and on a miss the index refreshed first: DataLoss when the chunk is in no index, the
  // refresh's own error when the store could not be read (an outage is no damage: a drill
  // records a failure only for damage).
  absl::StatusOr<Location> FindFresh(const ChunkId& id);
  std::optional<Location> Find(const ChunkId& id);
  // What a backup of this process committed, and its index object (read: a GC elsewhere that
  // replaces it is then noticed by the next refresh).
  void Merge(const Index& committed, const std::string& index_key);
  // The chunk's plaintext, decoded into `buffer` (Codec::DecodeChunk).
  absl::StatusOr<std::string> FetchChunk(const ChunkId& id, ChunkIds ids, const Location& loc,
                                         std::string buffer = std::string());

  // Locks (docs/format.md): write a lock, then look for conflicting ones.
  absl::StatusOr<std::string> TakeLock(const std::string& kind, const std::string& what);
  // Writes a new lock of `kind` (returned in `lock`); its key.
  absl::StatusOr<std::string> WriteLock(const std::string& kind, const std::string& what,
                                        mdb_backup::v1::Lock* lock);
  // The live marks of `kind`; Unavailable when one cannot be read (it may be live), or when one
  // is damaged and still fresh if `damaged_is_live`.
  absl::StatusOr<std::vector<mdb_backup::v1::Lock>> LiveMarks(const std::string& kind,
                                                              bool damaged_is_live);
  void ReleaseLock(const std::string& key);
  // Takes out of `backup_ids` those a live (or damaged) read mark names; `held_off`, when given
  // and empty, gets the first such mark's holder.
  absl::Status LeaveOutRead(std::vector<std::string>* backup_ids, std::string* held_off);

  storage::Storage* storage_;
  mdb_backup::v1::RepoConfig config_;
  Codec codec_;
  Chunker chunker_;
  std::mutex mu_;
  Index index_;
  std::set<std::string> index_keys_;  // index objects read into index_
  std::mutex refresh_mu_;             // one refresh at a time
  std::unique_ptr<common::ThreadPool> pool_;
  std::unique_ptr<JournalStore> journal_;
  std::unique_ptr<LockKeeper> locks_;
};

}  // namespace mdb::repo
