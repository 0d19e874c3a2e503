// Layout: "MDBPACK1" | blob* | trailer | u32 trailer length (LE) | "MDBPEND1". The trailer is the
// PackEntry encoded like every other object, bound to the pack id as its role.
#include "repo/pack.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status.h"

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

absl::StatusOr<std::unique_ptr<PackBuilder>> PackBuilder::Start(storage::Storage* storage,
                                                                size_t size_hint) {
  std::unique_ptr<PackBuilder> pack(new PackBuilder());
  common::RandomBytes(pack->id_.data(), pack->id_.size());
  pack->entry_.set_pack_id(
      std::string(reinterpret_cast<const char*>(pack->id_.data()), pack->id_.size()));
  auto out = storage->StartPut(PackKey(pack->id_), size_hint);
  if (!out.ok()) return out.status();
  pack->out_ = std::move(*out);
  RETURN_IF_ERROR(pack->Write(std::string_view(kHead, 8)));
  return pack;
}

absl::Status PackBuilder::Write(std::string_view data) {
  if (!out_) return absl::FailedPreconditionError("the pack is finished or failed");
  absl::Status st = out_->Append(data);
  if (!st.ok()) {
    out_.reset();  // spent: its temporary object goes, and nothing more is written
    return st;
  }
  bytes_ += data.size();
  return absl::OkStatus();
}

absl::Status PackBuilder::Add(const ChunkId& id, std::string_view blob, uint32_t size) {
  const size_t offset = bytes_;
  RETURN_IF_ERROR(Write(blob));
  auto* loc = entry_.add_chunks();
  loc->set_id(std::string(reinterpret_cast<const char*>(id.data()), id.size()));
  loc->set_offset(offset);
  loc->set_stored_size(static_cast<uint32_t>(blob.size()));
  loc->set_size(size);
  return absl::OkStatus();
}

absl::Status PackBuilder::Finish(const Codec& codec) {
  ASSIGN_OR_RETURN(std::string tail,
                   codec.Encode(entry_.SerializeAsString(), TrailerRole(entry_.pack_id())));
  const uint32_t len = static_cast<uint32_t>(tail.size());
  for (int i = 0; i < 4; ++i) tail.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  tail.append(kEnd, 8);
  RETURN_IF_ERROR(Write(tail));
  absl::Status st = out_->Commit();
  out_.reset();
  return st;
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
  // A format limit, not the host's: an entry per chunk (~60 bytes) for chunks of at least a
  // zstd frame's 9 bytes each.
  auto plain = codec.Decode(pack.substr(pack.size() - kPackTailSize - len, len),
                            TrailerRole(pack_id_bytes), 0, 8 * pack.size() + (1 << 20));
  if (!plain.ok()) return plain.status();
  ::mdb_backup::v1::PackEntry entry;
  if (!entry.ParseFromString(*plain) || entry.pack_id() != pack_id_bytes) {
    return absl::DataLossError(absl::StrCat("pack ", name, ": trailer does not describe it"));
  }
  return entry;
}

}  // namespace mdb::repo
