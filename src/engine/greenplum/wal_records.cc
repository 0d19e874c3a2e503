// The layouts are PostgreSQL's (access/xlog_internal.h, access/xlogrecord.h, access/xact.h), read
// by hand from the bytes: little-endian, 8-byte aligned records.
#include "engine/greenplum/wal_records.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>

namespace mdb::engine::greenplum {
namespace {

constexpr uint16_t kLongHeader = 0x0002;  // XLP_LONG_HEADER
// XLOG_PAGE_MAGIC of the WAL this reads: PostgreSQL 10 to 17 exactly (9.5 and 9.6 share the
// record layout, but may store times as floats). Greenplum 6 (from 9.4) and 7 (0xD105, its own
// transaction records) and other forks are left alone: their segments count by store time.
constexpr uint16_t kMagics[] = {0xD097, 0xD098, 0xD101, 0xD106, 0xD10D, 0xD110, 0xD113, 0xD116};
constexpr uint16_t kFirstIsContRecord = 0x0001;  // XLP_FIRST_IS_CONTRECORD
constexpr size_t kShortHeaderSize = 24;          // MAXALIGN(sizeof(XLogPageHeaderData))
constexpr size_t kLongHeaderSize = 40;           // MAXALIGN(sizeof(XLogLongPageHeaderData))
constexpr size_t kRecordHeaderSize = 24;         // SizeOfXLogRecord
constexpr size_t kCrcOffset = 20;                // offsetof(XLogRecord, xl_crc)
constexpr uint8_t kRmXact = 1;                   // RM_XACT_ID
constexpr uint8_t kXactOpMask = 0x70;            // XLOG_XACT_OPMASK
constexpr uint32_t kMaxRecord = 1u << 30;        // XLogRecordMaxSize
// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
constexpr int64_t kPgEpochMicros = 946684800LL * 1000000;

template <typename T>
T Read(std::string_view b, size_t at) {
  T v;
  memcpy(&v, b.data() + at, sizeof(T));
  return v;  // WAL is written in the server's byte order; x86-64 and arm64 are little-endian
}

size_t MaxAlign(size_t n) { return (n + 7) & ~size_t{7}; }

bool IsTransactionEnd(uint8_t info) {
  switch (info & kXactOpMask) {
    case 0x00:  // XLOG_XACT_COMMIT
    case 0x20:  // XLOG_XACT_ABORT
    case 0x30:  // XLOG_XACT_COMMIT_PREPARED
    case 0x40:  // XLOG_XACT_ABORT_PREPARED
      return true;
    default:
      return false;
  }
}

// The main data of a record (after its header), or nullopt when its block headers are not the
// simple ones a transaction end carries (origin, top-level xid, then the main data's length).
std::optional<std::string_view> MainData(std::string_view rec) {
  size_t pos = kRecordHeaderSize;
  while (pos < rec.size()) {
    uint8_t id = static_cast<uint8_t>(rec[pos]);
    if (id == 255 && pos + 2 <= rec.size()) {  // XLR_BLOCK_ID_DATA_SHORT
      size_t len = static_cast<uint8_t>(rec[pos + 1]);
      return len <= rec.size() - pos - 2 ? std::optional(rec.substr(rec.size() - len))
                                         : std::nullopt;
    }
    if (id == 254 && pos + 5 <= rec.size()) {  // XLR_BLOCK_ID_DATA_LONG
      size_t len = Read<uint32_t>(rec, pos + 1);
      return len <= rec.size() - pos - 5 ? std::optional(rec.substr(rec.size() - len))
                                         : std::nullopt;
    }
    if (id == 253) {  // XLR_BLOCK_ID_ORIGIN: a RepOriginId
      pos += 3;
    } else if (id == 252) {  // XLR_BLOCK_ID_TOPLEVEL_XID: a TransactionId
      pos += 5;
    } else {
      return std::nullopt;  // a block reference: not a transaction end
    }
  }
  return std::nullopt;
}

}  // namespace

uint32_t Crc32c(uint32_t crc, std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  for (unsigned char ch : data) crc = table[(crc ^ ch) & 0xFF] ^ (crc >> 8);
  return crc;
}

SegmentSummary SummarizeSegment(std::string_view seg, uint64_t segment_start) {
  SegmentSummary out;
  if (seg.size() < kLongHeaderSize) return out;
  if (!(Read<uint16_t>(seg, 2) & kLongHeader)) return out;
  const uint16_t magic = Read<uint16_t>(seg, 0);
  if (std::find(std::begin(kMagics), std::end(kMagics), magic) == std::end(kMagics)) return out;
  const uint64_t page = Read<uint32_t>(seg, 36);  // xlp_xlog_blcksz
  if (page < 1024 || page > 65536 || (page & (page - 1)) != 0 || seg.size() % page != 0) {
    return out;
  }
  // Where page `p` starts its records, or 0 when the page is not this segment's WAL.
  auto page_body = [&](size_t p) -> size_t {
    size_t at = p * page;
    if (Read<uint64_t>(seg, at + 8) != segment_start + at) return 0;  // xlp_pageaddr
    return at + ((Read<uint16_t>(seg, at + 2) & kLongHeader) ? kLongHeaderSize : kShortHeaderSize);
  };
  size_t pos = page_body(0);
  if (pos == 0) return out;
  std::optional<TransactionEnd>& last = out.last;
  // A record continued from the previous segment: skip its rest (pages of it, then the tail).
  uint32_t rem = Read<uint32_t>(seg, 16);
  if (Read<uint16_t>(seg, 2) & kFirstIsContRecord) {
    for (size_t p = 0; rem > 0;) {
      size_t room = (p + 1) * page - pos;
      if (rem <= room) {
        pos = MaxAlign(pos + rem);
        break;
      }
      rem -= room;
      ++p;
      pos = p * page < seg.size() ? page_body(p) : 0;
      if (pos == 0) return out;
    }
  }
  std::string rec;
  while (pos + 4 <= seg.size()) {
    if (pos % page == 0 && (pos = page_body(pos / page)) == 0) break;  // past a page's header
    // Only xl_tot_len is sure to be on this page (records are 8-aligned): the rest of the
    // header may continue on the next one, as the record's data may.
    uint32_t total = Read<uint32_t>(seg, pos);
    if (total < kRecordHeaderSize || total > kMaxRecord) break;  // the end of the WAL written
    rec.clear();
    size_t at = pos;
    bool torn = false;
    while (rec.size() < total) {
      size_t page_end = (at / page + 1) * page;
      size_t take = std::min<size_t>(total - rec.size(), page_end - at);
      rec.append(seg.substr(at, take));
      at += take;
      if (rec.size() < total) {
        if (at >= seg.size()) return out;  // continues in the next segment
        size_t next = at;
        if ((at = page_body(next / page)) == 0) return out;
        // Not a continuation (after a crash the server overwrites an unfinished record, and
        // says so with XLP_FIRST_IS_OVERWRITE_CONTRECORD): drop it, read on from that page.
        if (!(Read<uint16_t>(seg, next + 2) & kFirstIsContRecord)) {
          torn = true;
          break;
        }
      }
    }
    if (torn) {
      pos = at;
      continue;
    }
    std::string_view r = rec;
    uint32_t crc = Crc32c(0xFFFFFFFFu, r.substr(kRecordHeaderSize));
    crc = Crc32c(crc, r.substr(0, kCrcOffset)) ^ 0xFFFFFFFFu;
    if (crc != Read<uint32_t>(r, kCrcOffset)) break;  // recycled bytes past the end, or damage
    out.readable = true;  // a record checked: this is WAL of a layout read here
    uint8_t info = static_cast<uint8_t>(r[16]), rmid = static_cast<uint8_t>(r[17]);
    if (rmid == kRmXact && IsTransactionEnd(info)) {
      std::optional<std::string_view> main = MainData(r);
      if (main && main->size() >= 8) {
        int64_t pg_micros = Read<int64_t>(*main, 0);
        // Years 1970-2262 (what a Unix nanosecond clock holds); a source sending more is lying.
        // The latest time, not the last record: commit times are taken before the records are
        // inserted, so concurrent commits may be out of order in the WAL.
        if (pg_micros >= -kPgEpochMicros && pg_micros <= INT64_MAX / 1000 - kPgEpochMicros) {
          absl::Time t = absl::FromUnixMicros(pg_micros + kPgEpochMicros);
          if (!last || t >= last->time) last = TransactionEnd{.time = t, .end = segment_start + at};
        }
      }
    }
    pos = MaxAlign(at);
  }
  return out;
}

}  // namespace mdb::engine::greenplum
