#include "engine/mongodb/bson_stream.h"

#include <sodium.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace mdb::engine::mongodb {

void DocDigest::Add(std::string_view doc) {
  // A fixed key: the digest must be the same in the process that backs up and the one that
  // restores. SipHash is not for secrecy here, only a fast, well-mixed 64-bit hash.
  static const unsigned char kKey[crypto_shorthash_KEYBYTES] = {
      'm', 'd', 'b', '-', 'b', 'a', 'c', 'k', 'u', 'p', '-', 'd', 'i', 'g', 's', 't'};
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, reinterpret_cast<const unsigned char*>(doc.data()), doc.size(), kKey);
  uint64_t h;
  memcpy(&h, out, sizeof(h));
  ++count;
  bytes += doc.size();
  hash += h;  // addition commutes: the order documents arrive in does not matter
}

absl::Status BsonReader::Fill(size_t need) {
  if (pos_ > 0 && buf_.size() - pos_ < need) {  // keep the buffer from growing without bound
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  while (!eof_ && buf_.size() - pos_ < need) {
    size_t old = buf_.size();
    size_t want = std::max<size_t>(need - (old - pos_), 1 << 20);
    buf_.resize(old + want);
    auto got = source_->Read(buf_.data() + old, want);
    if (!got.ok()) {
      buf_.resize(old);
      return got.status();
    }
    buf_.resize(old + *got);
    if (*got == 0) eof_ = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string_view>> BsonReader::Next() {
  RETURN_IF_ERROR(Fill(4));
  size_t avail = buf_.size() - pos_;
  if (avail == 0) return std::optional<std::string_view>();
  if (avail < 4) return absl::DataLossError("the stream ends inside a document's length");
  uint32_t len;
  memcpy(&len, buf_.data() + pos_, 4);  // little-endian, as BSON is, on every supported host
  if (len < 5 || len > kMaxDocumentBytes) {
    return absl::DataLossError(absl::StrCat("a document claims an impossible length of ", len));
  }
  RETURN_IF_ERROR(Fill(len));
  if (buf_.size() - pos_ < len) return absl::DataLossError("the stream ends inside a document");
  std::string_view doc(buf_.data() + pos_, len);
  pos_ += len;
  return std::optional<std::string_view>(doc);
}

}  // namespace mdb::engine::mongodb
