// zstd contexts are costly to create, so each thread keeps one of each kind. HMAC-SHA256 goes
// through OpenSSL, which uses the CPU's SHA extensions (1.6-1.8 GB/s per core here, vs ~0.9 GB/s
// for BLAKE2b; Debian 12 packages no BLAKE3). Even so it was a third of a Greenplum backup's CPU,
// as much as zstd: hence ids of frames (FrameId), which hash the compressed bytes (a twentieth of
// a page group's, typically) instead of the plaintext.
#include "repo/codec.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace mdb::repo {
namespace {

constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;

struct ZstdContexts {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~ZstdContexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};

ZstdContexts& ThreadContexts() {
  thread_local ZstdContexts ctx;
  return ctx;
}

ChunkId HmacSha256(std::string_view key, std::string_view data) {
  ChunkId id;
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), id.data(), &len);
  return id;
}

// Roles are object names or raw chunk ids; messages show the latter in hex.
std::string RoleName(std::string_view role) {
  for (unsigned char c : role) {
    if (c < 0x20 || c > 0x7e) return "chunk " + ToHex(role);
  }
  return std::string(role);
}

}  // namespace

std::string ToHex(std::string_view bytes) {
  return absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}

Codec::Codec(Keys keys, int zstd_level) : keys_(std::move(keys)), level_(zstd_level) {
  // Derived, not stored: repositories made before frame ids have it too.
  ChunkId derived = HmacSha256(keys_.chunk_id_key, "mdb-backup frame-id key 1");
  frame_id_key_.assign(reinterpret_cast<const char*>(derived.data()), derived.size());
}

ChunkId Codec::Id(std::string_view plaintext) const {
  return HmacSha256(keys_.chunk_id_key, plaintext);
}

ChunkId Codec::FrameId(std::string_view frame) const { return HmacSha256(frame_id_key_, frame); }

std::string Seal(std::string_view plaintext, std::string_view key, std::string_view role) {
  std::string out(kNonce + plaintext.size() + kTag, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(p, kNonce);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      p + kNonce, &clen, reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
      reinterpret_cast<const unsigned char*>(role.data()), role.size(), nullptr, p,
      reinterpret_cast<const unsigned char*>(key.data()));
  return out;
}

absl::StatusOr<std::string> Open(std::string_view sealed, std::string_view key,
                                 std::string_view role) {
  if (sealed.size() < kNonce + kTag) {
    return absl::DataLossError(absl::StrCat("'", RoleName(role), "': sealed data is truncated"));
  }
  std::string out(sealed.size() - kNonce - kTag, '\0');
  unsigned long long mlen = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(sealed.data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(out.data()), &mlen, nullptr, p + kNonce,
          sealed.size() - kNonce, reinterpret_cast<const unsigned char*>(role.data()), role.size(),
          p, reinterpret_cast<const unsigned char*>(key.data())) != 0) {
    return absl::DataLossError(
        absl::StrCat("'", RoleName(role), "': authentication failed (damaged, or another key)"));
  }
  return out;
}

StreamChecksum::StreamChecksum(Kind kind) : kind_(kind) {
  if (kind_ == Kind::kXxh3_128) {
    state_ = XXH3_createState();
    XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_));
  } else {
    state_ = EVP_MD_CTX_new();
    EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(state_), EVP_sha256(), nullptr);
  }
}

StreamChecksum::~StreamChecksum() {
  if (kind_ == Kind::kXxh3_128) {
    XXH3_freeState(static_cast<XXH3_state_t*>(state_));
  } else {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(state_));
  }
}

void StreamChecksum::Update(std::string_view data) {
  if (kind_ == Kind::kXxh3_128) {
    XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data.data(), data.size());
  } else {
    EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(state_), data.data(), data.size());
  }
}

std::string StreamChecksum::Finish() {
  if (kind_ == Kind::kXxh3_128) {
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_)));
    return std::string(reinterpret_cast<const char*>(canonical.digest), sizeof(canonical.digest));
  }
  std::string out(32, '\0');
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(state_), reinterpret_cast<unsigned char*>(out.data()),
                     &len);
  return out;
}

absl::StatusOr<std::string> Codec::Compress(std::string_view plaintext, FrameCheck check) const {
  ZstdContexts& z = ThreadContexts();
  // Not a std::string of the bound: that would be zero-filled first, a pass over as many bytes as
  // the chunk for output that is mostly a twentieth of it. The copy out is of what zstd wrote.
  const size_t bound = ZSTD_compressBound(plaintext.size());
  auto buffer = std::make_unique_for_overwrite<char[]>(bound);
  size_t n;
  if (keys_.data_key || check == FrameCheck::kNone) {
    // The level alone: this call resets the context's other parameters, so no checksum whatever
    // the frame before it asked for.
    n = ZSTD_compressCCtx(z.c, buffer.get(), bound, plaintext.data(), plaintext.size(), level_);
  } else {
    // Without encryption nothing authenticates manifests, index objects and pack trailers: the
    // frame's own checksum (xxh64 of the content, checked by every decompression) makes damage
    // to them an error instead of plausible wrong metadata.
    ZSTD_CCtx_reset(z.c, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(z.c, ZSTD_c_compressionLevel, level_);
    ZSTD_CCtx_setParameter(z.c, ZSTD_c_checksumFlag, 1);
    n = ZSTD_compress2(z.c, buffer.get(), bound, plaintext.data(), plaintext.size());
  }
  // Into a bound-sized buffer zstd fails only for want of memory: an error, never an empty frame
  // (which every such chunk would share as its id).
  if (!z.c || ZSTD_isError(n)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "zstd: ", z.c ? ZSTD_getErrorName(n) : "no compression context (out of memory?)"));
  }
  return std::string(buffer.get(), n);
}

std::string Codec::SealFrame(std::string frame, std::string_view role) const {
  if (!keys_.data_key) return frame;
  return Seal(frame, *keys_.data_key, role);
}

absl::StatusOr<std::string_view> Codec::OpenFrame(std::string_view blob, std::string_view role,
                                                  std::string* opened) const {
  if (!keys_.data_key) return blob;
  ASSIGN_OR_RETURN(*opened, Open(blob, *keys_.data_key, role));
  return std::string_view(*opened);
}

absl::StatusOr<std::string> Codec::Decode(std::string_view blob, std::string_view role,
                                          size_t size_hint, size_t max_size) const {
  std::string opened;
  ASSIGN_OR_RETURN(std::string_view frame, OpenFrame(blob, role, &opened));
  return Decompress(frame, role, size_hint, max_size, Limit::kFormat);
}

absl::StatusOr<std::string> Codec::Decode(std::string_view blob, std::string_view role,
                                          size_t size_hint) const {
  std::string opened;
  ASSIGN_OR_RETURN(std::string_view frame, OpenFrame(blob, role, &opened));
  return Decompress(frame, role, size_hint, HostMaxSize(), Limit::kHost);
}

absl::StatusOr<std::string> Codec::DecodeChunk(std::string_view blob, const ChunkId& id,
                                               ChunkIds ids, size_t size,
                                               std::string buffer) const {
  std::string_view role(reinterpret_cast<const char*>(id.data()), id.size());
  std::string opened;
  ASSIGN_OR_RETURN(std::string_view frame, OpenFrame(blob, role, &opened));
  const auto mismatch = [] { return absl::DataLossError("content does not match its id"); };
  if (ids == ChunkIds::kOfFrame && FrameId(frame) != id) return mismatch();
  ASSIGN_OR_RETURN(std::string plain,
                   Decompress(frame, role, size, size, Limit::kFormat, std::move(buffer)));
  if (ids == ChunkIds::kOfContent && Id(plain) != id) return mismatch();
  return plain;
}

namespace {

// The memory this process may use: the machine's, or less under a cgroup's limit (v2: the
// lowest memory.max from its own cgroup up to the root, so a parent's limit counts too; v1: the
// memory controller's limit_in_bytes). "max" (no limit) does not parse and changes nothing.
uint64_t UsableMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  uint64_t memory = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * page : 0;
  const auto lower = [&memory](const std::string& file) {
    std::ifstream in(file);
    unsigned long long limit = 0;
    if (in >> limit && limit > 0 && (memory == 0 || limit < memory)) memory = limit;
  };
  std::ifstream groups("/proc/self/cgroup");
  for (std::string line; std::getline(groups, line);) {
    // "0::/system.slice/x.service" (v2), "4:memory:/docker/abc" (v1)
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::filesystem::path path = line.substr(b + 1);
    if (controllers.empty()) {
      for (std::filesystem::path p = path; !p.empty(); p = p.parent_path()) {
        lower("/sys/fs/cgroup" + (p == "/" ? std::string() : p.string()) + "/memory.max");
        if (p == p.parent_path()) break;
      }
    } else if (absl::StrContains(controllers, "memory")) {
      lower("/sys/fs/cgroup/memory" + (path == "/" ? std::string() : path.string()) +
            "/memory.limit_in_bytes");
    }
  }
  return memory;
}

}  // namespace

size_t Codec::HostMaxSize() {
  // A quarter of the memory this process may use: more than any real manifest or index object
  // (a 10 TB backup at 1 MiB chunks has a ~500 MB manifest), and a reader that refuses a bigger
  // one with an error is still running; one that allocated it is not.
  static const size_t cap = [] {
    const size_t quarter = static_cast<size_t>(UsableMemory() / 4);
    return quarter == 0 ? kMaxFrameClaim : std::min(quarter, kMaxFrameClaim);
  }();
  return cap;
}

absl::StatusOr<std::string> Codec::Decompress(std::string_view blob, std::string_view role,
                                              size_t size_hint, size_t max_size, Limit limit,
                                              std::string buffer) const {
  size_t size = size_hint;
  if (size == 0) {
    unsigned long long s = ZSTD_getFrameContentSize(blob.data(), blob.size());
    if (s == ZSTD_CONTENTSIZE_ERROR || s == ZSTD_CONTENTSIZE_UNKNOWN) {
      return absl::DataLossError(absl::StrCat("'", RoleName(role), "': not a zstd frame"));
    }
    const size_t most = limit == Limit::kHost ? kMaxFrameClaim : max_size;
    if (s > most) {
      return absl::DataLossError(absl::StrCat("'", RoleName(role), "': its frame claims ", s,
                                              " bytes, more than the ", most, " it may hold"));
    }
    size = static_cast<size_t>(s);
  }
  // The most any zstd input can expand to: every block yields at most ZSTD_BLOCKSIZE_MAX
  // (128 KiB) and takes at least 4 bytes (an RLE block: a 3-byte header and its byte). A size
  // past that (a planted frame header or index entry) is refused before the buffer is allocated:
  // a claim costs a reader only what its stored bytes could really produce.
  if (size / kMaxExpansion > blob.size()) {
    return absl::DataLossError(absl::StrCat("'", RoleName(role), "': ", size,
                                            " bytes cannot come from a frame of ", blob.size()));
  }
  // A size the format allows but this host's memory does not: no damage, a smaller host.
  if (limit == Limit::kHost && size > max_size) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "'", RoleName(role), "': its ", size, " bytes are more than a quarter of the memory this ",
        "process may use (", max_size, "); read it on a host with more memory"));
  }
  // Only bytes past the buffer's old size are zero-filled (the rest is overwritten, or the frame
  // refused): a spare of the last chunk's size costs no pass over memory before zstd's own.
  std::string out = std::move(buffer);
  if (out.capacity() < size) out = std::string();  // growing it would copy its old bytes first
  out.resize(size);
  size_t n =
      ZSTD_decompressDCtx(ThreadContexts().d, out.data(), out.size(), blob.data(), blob.size());
  if (ZSTD_isError(n) || n != size) {
    return absl::DataLossError(absl::StrCat("'", RoleName(role), "': decompression failed: ",
                                            ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong size"));
  }
  return out;
}

}  // namespace mdb::repo
