// The messages a walsender sends on a physical replication stream, parsed without trusting them
// (a broken or hostile source), and the assembly of their WAL into whole segments. Kept apart
// from the archiver's connection handling so that both can be fuzzed (wal_messages_fuzz.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/greenplum/wal_names.h"

namespace mdb::engine::greenplum {

struct WalMessage {
  enum class Kind { kOther, kKeepalive, kData };
  Kind kind = Kind::kOther;      // kOther: a message type the archiver has no use for
  bool reply_requested = false;  // kKeepalive: the server wants a status update now
  Lsn start = 0;                 // kData: the position of data[0]
  absl::string_view data;        // kData: WAL bytes, a view into the message
};

// One CopyData message ('w' XLogData, 'k' keepalive); DataLoss when one of those is shorter
// than its fixed header.
absl::StatusOr<WalMessage> ParseWalMessage(absl::string_view message);

// Fills segments of `segment_size` bytes from data that must arrive in order, without gaps or
// overlaps, starting at a segment boundary. Holds at most one segment.
class SegmentAssembler {
 public:
  using OnSegment = std::function<absl::Status(Lsn segment_start, std::string segment)>;
  SegmentAssembler(Lsn start, uint64_t segment_size);

  // Appends `data` found at `start`; calls `on_segment` for every segment it completes (its
  // error ends Add with that error). DataLoss when `start` is not where the last data ended.
  absl::Status Add(Lsn start, absl::string_view data, const OnSegment& on_segment);

  Lsn next() const { return segment_start_ + buffer_.size(); }

 private:
  uint64_t segment_size_;
  Lsn segment_start_;
  std::string buffer_;
};

}  // namespace mdb::engine::greenplum
