// PostgreSQL WAL positions and segment file names: "16/B374D848" LSNs and the 24-hex-digit
// names (timeline, then the segment number split in two) that WAL files and restore_command use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mdb::engine::greenplum {

using Lsn = uint64_t;

// "X/Y" (hex halves) <-> 64-bit position; nullopt for anything else.
std::optional<Lsn> ParseLsn(const std::string& text);
std::string FormatLsn(Lsn lsn);

// The file name of the segment holding `lsn` on `timeline`, for segments of `segment_size` bytes.
std::string WalFileName(uint32_t timeline, Lsn lsn, uint64_t segment_size);
// The start position of the segment named `name`; nullopt if it is not a WAL segment name.
std::optional<Lsn> WalFileStart(const std::string& name, uint64_t segment_size);

// Repository object names of archived segments: "wal.<cluster>.<shard>.<file name>".
std::string WalObjectPrefix(const std::string& cluster, const std::string& shard);

}  // namespace mdb::engine::greenplum
