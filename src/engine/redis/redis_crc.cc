// The CRCs Redis uses: CRC-64 (Jones) for DUMP payloads and RDB files, CRC-16 (XMODEM) for
// cluster slots.
#include "engine/redis/redis_crc.h"

#include <array>
#include <bit>
#include <cstring>

namespace mdb::engine::redis {
namespace {

// Eight tables for the CRC (slicing-by-8): a key name is hashed for every key of a backup, and
// byte at a time the CRC's chain of table lookups was most of what counting keys cost per name.
using Crc64Tables = std::array<std::array<uint64_t, 256>, 8>;

Crc64Tables MakeCrc64Tables() {
  // Jones polynomial 0xad93d23594c935a9, reflected (Redis crc64.c).
  Crc64Tables t{};
  const uint64_t poly = 0x95ac9329ac4bc9b5ULL;  // the polynomial bit-reversed
  for (int i = 0; i < 256; ++i) {
    uint64_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    t[0][i] = c;
  }
  for (int i = 0; i < 256; ++i) {
    for (int k = 1; k < 8; ++k) t[k][i] = t[0][t[k - 1][i] & 0xff] ^ (t[k - 1][i] >> 8);
  }
  return t;
}

}  // namespace

uint64_t Crc64(uint64_t crc, const void* data, size_t size) {
  static const Crc64Tables t = MakeCrc64Tables();
  const auto* p = static_cast<const uint8_t*>(data);
  // The slices are read as little-endian words; elsewhere the loop below does every byte.
  for (; std::endian::native == std::endian::little && size >= 8; size -= 8, p += 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    crc ^= word;
    crc = t[7][crc & 0xff] ^ t[6][(crc >> 8) & 0xff] ^ t[5][(crc >> 16) & 0xff] ^
          t[4][(crc >> 24) & 0xff] ^ t[3][(crc >> 32) & 0xff] ^ t[2][(crc >> 40) & 0xff] ^
          t[1][(crc >> 48) & 0xff] ^ t[0][crc >> 56];
  }
  for (; size > 0; --size, ++p) crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
  return crc;
}

int KeySlot(const std::string& key) {
  std::string_view k = key;
  size_t open = k.find('{');
  if (open != std::string_view::npos) {
    size_t close = k.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      k = k.substr(open + 1, close - open - 1);
  }
  uint16_t crc = 0;
  for (unsigned char c : k) {
    crc ^= static_cast<uint16_t>(c) << 8;
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
  }
  return crc & 16383;
}

}  // namespace mdb::engine::redis
