// Layout: "MDBPACK1" | blob* | trailer | u32 trailer length (LE) | "MDBPEND1". The trailer is the
// PackEntry encoded like every other object, bound to the pack id as its role.
#include "repo/pack.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/ids.h"

namespace mdb::repo {
namespace {

constexpr char kHead[] = "MDBPACK1";
constexpr char kEnd[] = "MDBPEND1";

std::string TrailerRole(std::string_view id) { return absl::StrCat("pack/", ToHex(id)); }

}  // namespace

std::string PackKey(std::string_view id_bytes) {
  std::string hex = ToHex(id_bytes);
  return absl::StrCat("packs/", hex.substr(0, 2), "/", hex);
}

std::string PackKey(const PackId& id) {
  return PackKey(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

PackBuilder::PackBuilder(size_t expected_bytes) {
  // Reserved once: growing by doubling would copy the pack and touch twice its size.
  data_.reserve(expected_bytes);
  common::RandomBytes(id_.data(), id_.size());
  data_.append(kHead, 8);
  entry_.set_pack_id(std::string(reinterpret_cast<const char*>(id_.data()), id_.size()));
}

void PackBuilder::Add(const ChunkId& id, std::string_view blob, uint32_t size) {
  auto* loc = entry_.add_chunks();
  loc->set_id(std::string(reinterpret_cast<const char*>(id.data()), id.size()));
  loc->set_offset(data_.size());
  loc->set_stored_size(static_cast<uint32_t>(blob.size()));
  loc->set_size(size);
  data_.append(blob);
}

std::string PackBuilder::Finish(const Codec& codec) {
  std::string trailer = codec.Encode(entry_.SerializeAsString(), TrailerRole(entry_.pack_id()));
  data_.append(trailer);
  uint32_t len = static_cast<uint32_t>(trailer.size());
  for (int i = 0; i < 4; ++i) data_.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  data_.append(kEnd, 8);
  return std::move(data_);
}

absl::StatusOr<::mdb_backup::v1::PackEntry> ParsePackTrailer(std::string_view pack,
                                                             std::string_view pack_id_bytes,
                                                             const Codec& codec) {
  std::string name = ToHex(pack_id_bytes);
  if (pack.size() < kPackTailSize || memcmp(pack.data() + pack.size() - 8, kEnd, 8) != 0) {
    return absl::DataLossError(absl::StrCat("pack ", name, ": missing end marker (truncated?)"));
  }
  const auto* p = reinterpret_cast<const uint8_t*>(pack.data() + pack.size() - kPackTailSize);
  uint32_t len = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
  if (len > pack.size() - kPackTailSize) {
    return absl::DataLossError(absl::StrCat("pack ", name, ": trailer length is damaged"));
  }
  auto plain =
      codec.Decode(pack.substr(pack.size() - kPackTailSize - len, len), TrailerRole(pack_id_bytes));
  if (!plain.ok()) return plain.status();
  ::mdb_backup::v1::PackEntry entry;
  if (!entry.ParseFromString(*plain) || entry.pack_id() != pack_id_bytes) {
    return absl::DataLossError(absl::StrCat("pack ", name, ": trailer does not describe it"));
  }
  return entry;
}

}  // namespace mdb::repo
