// libFuzzer target: replication messages as a walsender sends them (scripts/fuzz.sh). The input
// is a sequence of messages, each a 2-byte length and its bytes; data messages feed an assembler
// of small segments, whose segments must come whole and in order.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/greenplum/wal_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mdb::engine::greenplum::Lsn;
  constexpr uint64_t kSegment = 4096;
  mdb::engine::greenplum::SegmentAssembler segments(8 * kSegment, kSegment);
  Lsn expected = 8 * kSegment;
  auto take = [&](Lsn at, std::string segment) {
    if (at != expected || segment.size() != kSegment) abort();
    expected += kSegment;
    return absl::OkStatus();
  };
  const char* p = reinterpret_cast<const char*>(data);
  while (size >= 2) {
    size_t n =
        std::min<size_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]), size - 2);
    auto m = mdb::engine::greenplum::ParseWalMessage(absl::string_view(p + 2, n));
    p += 2 + n;
    size -= 2 + n;
    if (!m.ok()) continue;
    if (m->kind != mdb::engine::greenplum::WalMessage::Kind::kData) continue;
    if (!segments.Add(m->start, m->data, take).ok()) break;
  }
  return 0;
}
