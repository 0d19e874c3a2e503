// Chunk ids and the encoding of every binary object: zstd, then (when the repository is
// encrypted) XChaCha20-Poly1305 with a random nonce and the object's role as associated data.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mdb::repo {

using ChunkId = std::array<uint8_t, 32>;

struct ChunkIdHash {
  size_t operator()(const ChunkId& id) const {
    size_t h;
    memcpy(&h, id.data(), sizeof(h));  // ids are uniformly random already
    return h;
  }
};

std::string ToHex(std::string_view bytes);
inline std::string ToHex(const ChunkId& id) {
  return ToHex(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

// The repository's secrets: the chunk-id key always, the data key only when encrypted.
struct Keys {
  std::string chunk_id_key;             // 32 bytes
  std::optional<std::string> data_key;  // 32 bytes; nullopt = no encryption
};

// What a stream's chunk ids are the HMAC of (Stream.chunk_ids, docs/format.md "Chunks").
enum class ChunkIds { kOfContent, kOfFrame };

class Codec {
 public:
  Codec(Keys keys, int zstd_level);

  // HMAC-SHA256 under the chunk-id key: ids reveal nothing about contents without the key.
  ChunkId Id(std::string_view plaintext) const;
  // HMAC-SHA256 of a zstd frame (Compress) under the frame-id key, which is derived from the
  // chunk-id key: the two kinds of id are apart, so a plaintext that happens to be some chunk's
  // frame cannot take that chunk's place through dedup.
  ChunkId FrameId(std::string_view frame) const;

  // Compresses and (if encrypted) seals `plaintext`; `role` binds the blob to its place (e.g. the
  // chunk id, or "manifest/<id>") so a blob cannot be swapped for another.
  // ResourceExhausted when zstd cannot (it fails only for want of memory).
  absl::StatusOr<std::string> Encode(std::string_view plaintext, std::string_view role) const {
    return Encode(plaintext, role, FrameCheck::kChecksumWhenPlain);
  }
  // Encode for a chunk named by its content. Its frame carries no zstd checksum, even when plain:
  // its id, an HMAC of the plaintext checked after every decompression, checks the same bytes,
  // and the checksum (an xxh64 of the input) was 14% of `repo backup`'s CPU on bench/repo's
  // input. A chunk named by its frame keeps it (Compress): a frame without it is another frame,
  // so its id would change and the next backup after an upgrade would store every page again.
  absl::StatusOr<std::string> EncodeChunk(std::string_view plaintext, std::string_view role) const {
    return Encode(plaintext, role, FrameCheck::kNone);
  }
  // Encode's two steps, for a chunk named by its frame: the frame, then the blob that carries it.
  absl::StatusOr<std::string> Compress(std::string_view plaintext) const {
    return Compress(plaintext, FrameCheck::kChecksumWhenPlain);
  }
  std::string SealFrame(std::string frame, std::string_view role) const;

  // Reverses Encode. DataLoss when authentication or decompression fails; `size_hint` is the
  // plaintext size when known (0: read it from the zstd frame). Either size must be one the
  // blob's bytes could produce (kMaxExpansion each), so a planted header costs nothing. A frame
  // may claim up to kMaxFrameClaim (DataLoss past it) but no more than this host's memory allows
  // (HostMaxSize: ResourceExhausted, "read it on a larger host", not damage). In a plain
  // repository whoever can write a blob can still make a reader allocate up to that cap once,
  // by storing a real zstd bomb.
  absl::StatusOr<std::string> Decode(std::string_view blob, std::string_view role,
                                     size_t size_hint = 0) const;
  // With a limit of the format (a journal piece's size): DataLoss past `max_size`.
  absl::StatusOr<std::string> Decode(std::string_view blob, std::string_view role, size_t size_hint,
                                     size_t max_size) const;
  // The most plaintext one stored byte can decode to (ZSTD_BLOCKSIZE_MAX / 4).
  static constexpr size_t kMaxExpansion = 32768;
  // A quarter of the memory this process may use (the machine's, or its cgroup's if lower), at
  // most kMaxFrameClaim.
  static size_t HostMaxSize();
  static constexpr size_t kMaxFrameClaim = size_t{1} << 34;
  // Decode of a chunk of `size` plaintext bytes, checked against its id: DataLoss "content does
  // not match its id" when it does not. A frame id is checked before anything is decompressed.
  // The plaintext is written into `buffer` (io::ByteSink::Spare: a string done with, whose old
  // bytes are all overwritten or the chunk refused), which saves filling a new one with zeros.
  absl::StatusOr<std::string> DecodeChunk(std::string_view blob, const ChunkId& id, ChunkIds ids,
                                          size_t size, std::string buffer = std::string()) const;

  bool encrypted() const { return keys_.data_key.has_value(); }

 private:
  // Whether a frame carries zstd's checksum of its content. An encrypted blob never does: it is
  // authenticated as a whole.
  enum class FrameCheck { kChecksumWhenPlain, kNone };
  absl::StatusOr<std::string> Compress(std::string_view plaintext, FrameCheck check) const;
  absl::StatusOr<std::string> Encode(std::string_view plaintext, std::string_view role,
                                     FrameCheck check) const {
    absl::StatusOr<std::string> frame = Compress(plaintext, check);
    if (!frame.ok()) return frame.status();
    return SealFrame(*std::move(frame), role);
  }
  // SealFrame reversed: the frame `blob` carries (the blob itself when plain; else authenticated
  // and decrypted into `*opened`, which the result points into).
  absl::StatusOr<std::string_view> OpenFrame(std::string_view blob, std::string_view role,
                                             std::string* opened) const;
  // Whose limit `max_size` is: the format's (past it is damage) or this host's (past it is
  // ResourceExhausted up to kMaxFrameClaim).
  enum class Limit { kFormat, kHost };
  absl::StatusOr<std::string> Decompress(std::string_view frame, std::string_view role,
                                         size_t size_hint, size_t max_size, Limit limit,
                                         std::string buffer = std::string()) const;

  Keys keys_;
  std::string frame_id_key_;
  int level_;
};

// The checksum of a whole stream, fed in order: recorded at backup, checked at restore, so that
// a manifest that lost or reordered chunks cannot restore as plausible data. It guards the
// bookkeeping, not against an attacker: each chunk is already checked against its id (an HMAC)
// and the manifest is sealed with the data key when encrypted, while someone who could rewrite
// a plain manifest could rewrite any checksum in it too. So format 2 uses XXH3-128 (about ten
// times SHA-256's speed here); SHA-256, what format 1 recorded, cost as much CPU as the chunk
// ids themselves (bench/repo: a fifth of a backup's).
class StreamChecksum {
 public:
  enum class Kind { kXxh3_128, kSha256 };
  explicit StreamChecksum(Kind kind = Kind::kXxh3_128);
  ~StreamChecksum();
  StreamChecksum(const StreamChecksum&) = delete;
  StreamChecksum& operator=(const StreamChecksum&) = delete;
  void Update(std::string_view data);
  std::string Finish();  // raw bytes: 16 (XXH3-128, canonical big-endian form) or 32 (SHA-256)

 private:
  Kind kind_;
  void* state_;  // XXH3_state_t or EVP_MD_CTX, kept out of this header
};

// Seals/opens small secrets under a 32-byte key (the key file's), for the repository config.
std::string Seal(std::string_view plaintext, std::string_view key, std::string_view role);
absl::StatusOr<std::string> Open(std::string_view sealed, std::string_view key,
                                 std::string_view role);

}  // namespace mdb::repo
