#include "engine/greenplum/wal_messages.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mdb::engine::greenplum {
namespace {

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

absl::StatusOr<WalMessage> ParseWalMessage(absl::string_view message) {
  WalMessage out;
  if (message.empty()) return out;
  switch (message[0]) {
    case 'k':  // walEnd, sendTime, replyRequested
      if (message.size() < 18) break;
      out.kind = WalMessage::Kind::kKeepalive;
      out.reply_requested = message[17] != 0;
      return out;
    case 'w':  // dataStart, walEnd, sendTime, then the WAL
      if (message.size() < 25) break;
      out.kind = WalMessage::Kind::kData;
      out.start = GetU64(message.data() + 1);
      out.data = message.substr(25);
      return out;
    default:
      return out;
  }
  return absl::DataLossError(absl::StrCat("a replication message of type '", message.substr(0, 1),
                                          "' with ", message.size(), " bytes is too short"));
}

SegmentAssembler::SegmentAssembler(Lsn start, uint64_t segment_size)
    : segment_size_(segment_size), segment_start_(start) {}

absl::Status SegmentAssembler::Add(Lsn start, absl::string_view data, const OnSegment& on_segment) {
  while (!data.empty()) {
    if (start != next()) {
      return absl::DataLossError(absl::StrCat("WAL arrived at ", FormatLsn(start), " but ",
                                              FormatLsn(next()), " was expected"));
    }
    if (buffer_.empty()) buffer_.reserve(segment_size_);
    size_t k = std::min<size_t>(data.size(), segment_size_ - buffer_.size());
    buffer_.append(data.data(), k);
    data.remove_prefix(k);
    start += k;
    if (buffer_.size() < segment_size_) break;
    // Handed over, not copied; the next segment starts empty either way.
    std::string segment = std::move(buffer_);
    buffer_.clear();
    Lsn at = segment_start_;
    segment_start_ += segment_size_;
    // A segment not taken ends the stream; the caller reconnects and streams it again.
    absl::Status st = on_segment(at, std::move(segment));
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace mdb::engine::greenplum
