#include "repo/journal_store.h"

#include <zstd.h>

#include <algorithm>
#include <optional>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"

namespace mdb::repo {
namespace {

constexpr char kPrefix[] = "journal/";

bool ValidName(const std::string& name) {
  return !name.empty() && name.size() <= 180 &&
         name.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
             std::string::npos &&
         name != "." && name != "..";
}

std::string ClusterPrefix(const std::string& cluster_id) {
  // Hex: cluster ids and shard names may hold any character, keys only a few.
  return absl::StrCat(kPrefix, absl::BytesToHexString(cluster_id), "/");
}

// Cluster id and shard name, hex-encoded in the key: 130 bytes keep the longest key (with a
// 180-character name) under storage's 512; the name keeps the last part under a file system's 255
// (with room for the posix driver's temporary suffix).
constexpr size_t kMaxIdBytes = 130;

// The most a piece's object can take: its frame at worst, the checksum, a seal's nonce and tag.
size_t MaxStoredBytes() { return ZSTD_compressBound(kMaxJournalPieceBytes + 32) + 4096; }

std::string Hex16(uint64_t v) { return absl::StrCat(absl::Hex(v, absl::kZeroPad16)); }

// Debian's abseil has the unchecked HexStringToBytes only: the digits are checked here.
bool Unhex(const std::string& hex, std::string* out) {
  if (hex.empty() || hex.size() % 2 != 0 ||
      hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return false;
  }
  *out = absl::HexStringToBytes(hex);
  return true;
}

// The key's parts, or nullopt for an object that is not a piece (ignored by List).
std::optional<JournalPieceInfo> ParseKey(const storage::ObjectInfo& o) {
  std::vector<std::string> parts = absl::StrSplit(o.key, '/');
  if (parts.size() != 4 || parts[0] != "journal") return std::nullopt;
  JournalPieceInfo p;
  if (!Unhex(parts[1], &p.cluster_id) || !Unhex(parts[2], &p.shard)) return std::nullopt;
  const std::string& last = parts[3];
  if (last.size() < 35 || last[16] != '-' || last[33] != '.') return std::nullopt;
  // Exactly the digits Put writes: one piece has one key (SimpleHexAtoi would take "0x" or '+').
  if (last.substr(0, 16).find_first_not_of("0123456789abcdef") != std::string::npos ||
      last.substr(17, 16).find_first_not_of("0123456789abcdef") != std::string::npos) {
    return std::nullopt;
  }
  if (!absl::SimpleHexAtoi(last.substr(0, 16), &p.start) ||
      !absl::SimpleHexAtoi(last.substr(17, 16), &p.end) || p.end < p.start) {
    return std::nullopt;
  }
  p.name = last.substr(34);
  if (!ValidName(p.name)) return std::nullopt;
  p.stored_bytes = o.size;
  p.committed = o.modified;
  p.key = o.key;
  return p;
}

class StorageJournal final : public JournalStore {
 public:
  StorageJournal(storage::Storage* storage, const Codec* codec)
      : storage_(storage), codec_(codec) {}

  absl::StatusOr<JournalPieceInfo> Put(const std::string& cluster_id, const std::string& shard,
                                       const std::string& name, uint64_t start, uint64_t end,
                                       std::string_view data) override {
    if (!ValidName(name) || end < start || cluster_id.empty() || shard.empty() ||
        cluster_id.size() + shard.size() > kMaxIdBytes || cluster_id.size() > 120 ||
        shard.size() > 120) {  // each a part of the key: under 255 in hex
      return absl::InvalidArgumentError(absl::StrCat("journal piece '", name, "' of cluster '",
                                                     cluster_id, "' shard '", shard,
                                                     "': invalid name, ids or positions"));
    }
    if (data.size() > kMaxJournalPieceBytes) {
      return absl::InvalidArgumentError(absl::StrCat("journal piece '", name, "' has ", data.size(),
                                                     " bytes, more than the ",
                                                     kMaxJournalPieceBytes, " a piece may have"));
    }
    std::string key = absl::StrCat(ClusterPrefix(cluster_id), absl::BytesToHexString(shard), "/",
                                   Hex16(start), "-", Hex16(end), ".", name);
    if (storage_->Stat(key).ok()) {
      return absl::AlreadyExistsError(absl::StrCat("journal piece '", key, "' is stored already"));
    }
    // SHA-256 of the key and the bytes first: an unencrypted repository's zstd frame alone would
    // not notice every change, nor a piece copied over another's key.
    StreamChecksum hash(StreamChecksum::Kind::kSha256);
    hash.Update(key);
    hash.Update(std::string_view("\0", 1));
    hash.Update(data);
    std::string plain = hash.Finish();
    plain.append(data.data(), data.size());
    ASSIGN_OR_RETURN(std::string blob, codec_->Encode(plain, key));
    RETURN_IF_ERROR(storage_->Put(key, blob));
    auto info = storage_->Stat(key);
    JournalPieceInfo p{.cluster_id = cluster_id,
                       .shard = shard,
                       .name = name,
                       .start = start,
                       .end = end,
                       .stored_bytes = blob.size(),
                       .committed = info.ok() ? info->modified : absl::Now(),
                       .key = key};
    return p;
  }

  absl::StatusOr<Totals> Total() override {
    ASSIGN_OR_RETURN(auto objects, storage_->List(kPrefix));
    Totals t;
    for (const auto& o : objects) {
      ++t.pieces;
      t.stored_bytes += o.size;
    }
    return t;
  }

  absl::StatusOr<std::vector<JournalPieceInfo>> List(const std::string& cluster_id) override {
    ASSIGN_OR_RETURN(auto objects, storage_->List(ClusterPrefix(cluster_id)));
    std::vector<JournalPieceInfo> out;
    for (const auto& o : objects) {
      auto p = ParseKey(o);
      if (p && p->cluster_id == cluster_id) out.push_back(*std::move(p));
    }
    std::sort(out.begin(), out.end(), [](const JournalPieceInfo& a, const JournalPieceInfo& b) {
      return std::tie(a.shard, a.start, a.name) < std::tie(b.shard, b.start, b.name);
    });
    return out;
  }

  absl::StatusOr<std::string> Get(const JournalPieceInfo& piece) override {
    // Read no more than the listing saw (an object swapped for a larger one then fails its
    // checksum), and nothing a piece could not be: a planted object never sizes an allocation.
    if (piece.stored_bytes == 0 || piece.stored_bytes > MaxStoredBytes()) {
      return absl::DataLossError(absl::StrCat("journal piece '", piece.key, "' has ",
                                              piece.stored_bytes,
                                              " bytes in the store; no piece can have that many"));
    }
    auto read = storage_->GetRange(piece.key, 0, piece.stored_bytes);
    if (absl::IsOutOfRange(read.status())) {
      return absl::DataLossError(
          absl::StrCat("journal piece '", piece.key, "' is shorter than when it was listed"));
    }
    ASSIGN_OR_RETURN(std::string blob, std::move(read));
    auto plain = codec_->Decode(blob, piece.key, 0, kMaxJournalPieceBytes + 32);
    if (!plain.ok() || plain->size() < 32) {
      return absl::DataLossError(absl::StrCat("journal piece '", piece.key, "' is damaged: ",
                                              plain.ok() ? "too short" : plain.status().message()));
    }
    StreamChecksum hash(StreamChecksum::Kind::kSha256);
    hash.Update(piece.key);
    hash.Update(std::string_view("\0", 1));
    hash.Update(std::string_view(*plain).substr(32));
    if (hash.Finish() != plain->substr(0, 32)) {
      return absl::DataLossError(
          absl::StrCat("journal piece '", piece.key, "' does not match its checksum"));
    }
    plain->erase(0, 32);
    return *std::move(plain);
  }

  absl::Status Delete(const JournalPieceInfo& piece) override {
    if (piece.key.rfind(kPrefix, 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("'", piece.key, "' is not a journal piece"));
    }
    return storage_->Delete(piece.key);
  }

 private:
  storage::Storage* storage_;
  const Codec* codec_;
};

}  // namespace

std::unique_ptr<JournalStore> NewJournalStore(storage::Storage* storage, const Codec* codec) {
  return std::make_unique<StorageJournal>(storage, codec);
}

}  // namespace mdb::repo
