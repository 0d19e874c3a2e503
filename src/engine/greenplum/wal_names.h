// PostgreSQL WAL positions and segment file names: "16/B374D848" LSNs and the 24-hex-digit
// names (timeline, then the segment number split in two) that WAL files and restore_command use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "engine/greenplum/wal_records.h"

namespace mdb::engine::greenplum {

using Lsn = uint64_t;

// "X/Y" (hex halves) <-> 64-bit position; nullopt for anything else.
std::optional<Lsn> ParseLsn(const std::string& text);
std::string FormatLsn(Lsn lsn);

// The file name of the segment holding `lsn` on `timeline`, for segments of `segment_size` bytes.
std::string WalFileName(uint32_t timeline, Lsn lsn, uint64_t segment_size);
// The start position of the segment named `name`; nullopt if it is not a WAL segment name.
std::optional<Lsn> WalFileStart(const std::string& name, uint64_t segment_size);

// The journal store name of a segment: "<system id>.<WAL file name>", then ".<commit time, unix
// microseconds>" for segments moved from an older repository (the store's own write time would
// be the move's), and last ".t<unix microseconds>" when the archiver read the segment's
// transaction ends: the time of its last commit or abort record (".t" alone: it has none).
// Point-in-time restores and the restorable window decide by those times (wal_records.h).
std::string PieceName(const std::string& system_id, const std::string& file,
                      std::optional<absl::Time> committed = std::nullopt,
                      const SegmentSummary* summary = nullptr);

}  // namespace mdb::engine::greenplum
