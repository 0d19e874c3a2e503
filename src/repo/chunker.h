// Content-defined chunking (FastCDC-style gear hash with normalized chunking): the same bytes cut
// at the same places wherever they sit in a stream, so unchanged data dedups across backups.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mdb::repo {

struct ChunkerParams {
  uint32_t min_size = 256 << 10;  // no cut before this many bytes
  uint32_t avg_size = 1 << 20;    // a power of two; the expected chunk size
  uint32_t max_size = 4 << 20;    // always cut here
};

class Chunker {
 public:
  explicit Chunker(const ChunkerParams& params);

  // Returns the length of the chunk that starts at `data`: a cut point in (0, n], or 0 when
  // more bytes are needed to decide (n < max_size and !eof). With eof, the rest is the last chunk.
  size_t FindCut(const uint8_t* data, size_t n, bool eof) const;

  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // stricter mask before avg_size: fewer small chunks
  uint64_t mask_large_;  // looser mask after avg_size: fewer chunks forced at max_size
};

}  // namespace mdb::repo
