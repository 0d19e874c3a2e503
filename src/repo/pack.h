// Packs group many encoded chunks into one object (~16 MiB), so a backup is hundreds of objects
// rather than millions. A pack ends with a trailer listing its chunks, so the index can always be
// rebuilt from the packs alone.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mdb_backup/v1/repo.pb.h"
#include "repo/codec.h"
#include "storage/storage.h"

namespace mdb::repo {

using PackId = std::array<uint8_t, 16>;

// "packs/<first two hex digits>/<32 hex digits>": the fan-out keeps directories small on posix.
std::string PackKey(const PackId& id);
std::string PackKey(std::string_view id_bytes);

// Writes one pack to storage as its chunks come (Storage::StartPut): a pack being built costs the
// storage writer's buffer (1 MiB on posix), not the pack; nothing is published before Finish.
class PackBuilder {
 public:
  // A new pack of a fresh random id; `size_hint`: the size it will likely reach.
  static absl::StatusOr<std::unique_ptr<PackBuilder>> Start(storage::Storage* storage,
                                                            size_t size_hint);
  // Appends an encoded blob of chunk `id` (`size` plaintext bytes).
  [[nodiscard]] absl::Status Add(const ChunkId& id, std::string_view blob, uint32_t size);
  size_t bytes() const { return bytes_; }  // written so far (with the trailer, after Finish)
  size_t chunks() const { return static_cast<size_t>(entry_.chunks_size()); }
  // Appends the trailer and publishes the pack; the builder is spent afterwards.
  [[nodiscard]] absl::Status Finish(const Codec& codec);
  const ::mdb_backup::v1::PackEntry& entry() const { return entry_; }
  const PackId& id() const { return id_; }

 private:
  PackBuilder() = default;
  absl::Status Write(std::string_view data);

  PackId id_;
  std::unique_ptr<storage::ObjectWriter> out_;
  size_t bytes_ = 0;
  ::mdb_backup::v1::PackEntry entry_;
};

// Size of the fixed tail of a pack: u32 trailer length (little-endian) + 8-byte end magic.
inline constexpr size_t kPackTailSize = 12;

// Parses a pack's trailer given the whole pack object (verify) or, with `tail` being the last
// bytes of the pack that include the trailer, the same. DataLoss if it is damaged.
absl::StatusOr<::mdb_backup::v1::PackEntry> ParsePackTrailer(std::string_view pack,
                                                             std::string_view pack_id_bytes,
                                                             const Codec& codec);

}  // namespace mdb::repo
