// Journal pieces (WAL segments): a repository object kind of their own, beside the chunk store.
// A piece is written whole as one object (compressed and, in an encrypted repository, sealed
// like every object; the SHA-256 of its bytes inside) under a key that names its cluster, shard
// and journal positions:
//   journal/<hex cluster id>/<hex shard name>/<start, 16 hex>-<end, 16 hex>.<name>
// One listing of journal/<hex cluster id>/ is then the cluster's index: accounting, pruning and
// restore planning read no piece, GC reads none (pieces share no chunks), and nothing needs a
// lock: archivers (of several instances, too) write pieces side by side, each atomically.
// Not deduplicated: WAL segments do not repeat (pgBackRest and WAL-G store them whole too).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "repo/codec.h"
#include "storage/storage.h"

namespace mdb::repo {

struct JournalPieceInfo {
  std::string cluster_id;
  std::string shard;
  std::string name;    // the engine's name of the piece ("<system id>.<WAL file name>")
  uint64_t start = 0;  // engine positions covered: [start, end)
  uint64_t end = 0;
  uint64_t stored_bytes = 0;  // the object's size in the store
  absl::Time committed;       // when the store wrote it
  std::string key;            // its storage key
};

// The largest piece (PostgreSQL's largest WAL segment). Pieces are held whole in memory, so a
// reader refuses anything that claims more before allocating it.
inline constexpr uint64_t kMaxJournalPieceBytes = uint64_t{1} << 30;

// What engines see of the repository for their journal (narrow on purpose: no backups, no GC).
// Thread-safe.
class JournalStore {
 public:
  virtual ~JournalStore() = default;
  // Stores a piece of at most kMaxJournalPieceBytes. `name` is [A-Za-z0-9._-], 1-180
  // characters; the cluster id and shard name together at most 130 bytes (keys are bounded).
  // AlreadyExists (with nothing written) when the same piece is stored already.
  virtual absl::StatusOr<JournalPieceInfo> Put(const std::string& cluster_id,
                                               const std::string& shard, const std::string& name,
                                               uint64_t start, uint64_t end,
                                               std::string_view data) = 0;
  // The cluster's pieces, by shard, then position.
  virtual absl::StatusOr<std::vector<JournalPieceInfo>> List(const std::string& cluster_id) = 0;
  // A piece's bytes (of `piece` as List gave it: at most its listed size is read); DataLoss when
  // the object is damaged, larger than any piece may be, or not the piece its key names.
  virtual absl::StatusOr<std::string> Get(const JournalPieceInfo& piece) = 0;
  // NotFound when it is gone already.
  [[nodiscard]] virtual absl::Status Delete(const JournalPieceInfo& piece) = 0;
  // Every cluster's pieces together, from one listing: how many and their stored bytes.
  struct Totals {
    int pieces = 0;
    uint64_t stored_bytes = 0;
  };
  virtual absl::StatusOr<Totals> Total() = 0;
};

// The store over a repository's storage and codec (Repository::journal() hands one out).
std::unique_ptr<JournalStore> NewJournalStore(storage::Storage* storage, const Codec* codec);

}  // namespace mdb::repo
