// libFuzzer target: the WAL walk of SummarizeSegment (scripts/fuzz.sh). The input becomes a
// segment of 1 KiB pages whose headers are made valid here (address, long header, page size),
// so that the fuzzer spends its time on what follows them: records, their lengths across pages,
// continuations, block headers and CRCs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/greenplum/wal_records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kPage = 1024;
  constexpr uint64_t kStart = 0x5000000;
  if (size < 40 || size > 64 * kPage) return 0;
  std::string seg(reinterpret_cast<const char*>(data), size);
  seg.resize((size + kPage - 1) / kPage * kPage, '\0');
  for (size_t at = 0; at < seg.size(); at += kPage) {
    uint64_t addr = kStart + at;
    memcpy(seg.data() + at + 8, &addr, 8);
  }
  seg[2] = static_cast<char>(seg[2] | 0x02);  // XLP_LONG_HEADER on the first page
  uint32_t page = kPage;
  memcpy(seg.data() + 36, &page, 4);
  auto summary = mdb::engine::greenplum::SummarizeSegment(seg, kStart);
  if (summary.last && !summary.readable) abort();
  if (summary.last && (summary.last->end <= kStart || summary.last->end > kStart + seg.size())) {
    abort();  // a record's end lies inside the segment
  }
  return 0;
}
