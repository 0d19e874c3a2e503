#include "engine/greenplum/wal_names.h"

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mdb::engine::greenplum {

std::optional<Lsn> ParseLsn(const std::string& text) {
  size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) return std::nullopt;
  uint32_t hi, lo;
  if (!absl::SimpleHexAtoi(text.substr(0, slash), &hi) ||
      !absl::SimpleHexAtoi(text.substr(slash + 1), &lo)) {
    return std::nullopt;
  }
  return (static_cast<Lsn>(hi) << 32) | lo;
}

std::string FormatLsn(Lsn lsn) {
  return absl::StrFormat("%X/%X", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
}

std::string WalFileName(uint32_t timeline, Lsn lsn, uint64_t segment_size) {
  uint64_t segno = lsn / segment_size;
  uint64_t per_id = 0x100000000ull / segment_size;  // segments per "xlogid"
  return absl::StrFormat("%08X%08X%08X", timeline, static_cast<uint32_t>(segno / per_id),
                         static_cast<uint32_t>(segno % per_id));
}

std::optional<Lsn> WalFileStart(const std::string& name, uint64_t segment_size) {
  if (name.size() != 24) return std::nullopt;
  uint32_t tli, hi, lo;
  if (!absl::SimpleHexAtoi(name.substr(0, 8), &tli) ||
      !absl::SimpleHexAtoi(name.substr(8, 8), &hi) ||
      !absl::SimpleHexAtoi(name.substr(16, 8), &lo)) {
    return std::nullopt;
  }
  uint64_t per_id = 0x100000000ull / segment_size;
  if (lo >= per_id) return std::nullopt;
  return (static_cast<uint64_t>(hi) * per_id + lo) * segment_size;
}

std::string PieceName(const std::string& system_id, const std::string& file,
                      std::optional<absl::Time> committed, const SegmentSummary* summary) {
  std::string name = absl::StrCat(system_id.empty() ? "0" : system_id, ".", file);
  if (committed) absl::StrAppend(&name, ".", absl::ToUnixMicros(*committed));
  if (summary && summary->readable) {
    absl::StrAppend(&name, ".t",
                    summary->last ? absl::StrCat(absl::ToUnixMicros(summary->last->time)) : "");
  }
  return name;
}

}  // namespace mdb::engine::greenplum
