// Reads the transaction ends out of an archived WAL segment: the commit (and abort) records'
// timestamps, which are what recovery_target_time compares against. The archiver records the
// last one of each segment, so the restorable window ends at the last commit really archived
// rather than at the time the segment was stored, and a restore to the window's end never asks
// recovery for a time its WAL does not pass (PostgreSQL 13+ then stops with FATAL).
//
// Only what that needs is decoded: page headers, record headers with their CRC-32C, the block
// reference headers up to the main data, and RM_XACT's commit/abort records (PostgreSQL 10-17,
// by their page magic). Anything unexpected ends the walk: what was read before it stands.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/time/time.h"

namespace mdb::engine::greenplum {

struct TransactionEnd {
  absl::Time time;   // xact_time of the record
  uint64_t end = 0;  // the LSN just past the record
};

struct SegmentSummary {
  // The segment is this address's WAL in a layout read here (PostgreSQL 9.5-17), and at least
  // one record in it passed its CRC. When false, `last` says nothing.
  bool readable = false;
  // The commit or abort record wholly inside it with the latest time (not always the last
  // one: concurrent commits take their times before their records are inserted).
  std::optional<TransactionEnd> last;
};

// What `segment`, the WAL segment that begins at LSN `segment_start`, says of its transactions.
SegmentSummary SummarizeSegment(std::string_view segment, uint64_t segment_start);

// CRC-32C (Castagnoli), as PostgreSQL checks WAL records. Written here: Debian has no library
// of it for C++ (zlib's crc32 is the other polynomial), and it is ten lines.
uint32_t Crc32c(uint32_t crc, std::string_view data);

}  // namespace mdb::engine::greenplum
