// The gear table is part of the repository format: it is generated from a fixed seed with
// splitmix64, so every build cuts identically (docs/format.md). Masks use the hash's high bits,
// which depend on the last 64 bytes fed in (the gear hash shifts one bit per byte).
#include "repo/chunker.h"

#include <array>
#include <bit>

namespace mdb::repo {
namespace {

constexpr std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> gear{};
  uint64_t x = 0x6d64622d63646331ULL;  // "mdb-cdc1"
  for (auto& g : gear) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    g = z ^ (z >> 31);
  }
  return gear;
}

constexpr std::array<uint64_t, 256> kGear = MakeGear();

uint64_t HighBits(int bits) { return bits <= 0 ? 0 : ~uint64_t{0} << (64 - bits); }

}  // namespace

Chunker::Chunker(const ChunkerParams& params) : params_(params) {
  int bits = std::bit_width(params.avg_size) - 1;  // log2(avg)
  mask_small_ = HighBits(bits + 2);
  mask_large_ = HighBits(bits - 2);
}

size_t Chunker::FindCut(const uint8_t* data, size_t n, bool eof) const {
  const size_t min = params_.min_size, avg = params_.avg_size, max = params_.max_size;
  if (n <= min) return eof ? n : 0;
  size_t end = n < max ? n : max;
  size_t normal = end < avg ? end : avg;
  uint64_t h = 0;
  size_t i = min;
  for (; i < normal; ++i) {
    h = (h << 1) + kGear[data[i]];
    if ((h & mask_small_) == 0) return i + 1;
  }
  for (; i < end; ++i) {
    h = (h << 1) + kGear[data[i]];
    if ((h & mask_large_) == 0) return i + 1;
  }
  if (end == max) return max;
  return eof ? n : 0;
}

}  // namespace mdb::repo
