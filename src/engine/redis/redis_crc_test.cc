#include "engine/redis/redis_crc.h"

#include <gtest/gtest.h>

#include <string>

namespace mdb::engine::redis {
namespace {

TEST(RedisCrc, Crc64MatchesRedis) {
  EXPECT_EQ(Crc64(0, "123456789", 9), 0xe9c6d914c4b8d9caULL);  // Redis crc64.c self-test value
}

// Eight bytes at a time (key names, restored payloads) gives the CRC one byte at a time gives,
// at every length and alignment, and chained over pieces as whole.
TEST(RedisCrc, Crc64OfEightByteSlicesIsTheBytewiseCrc) {
  auto bytewise = [](uint64_t crc, const std::string& s) {
    for (unsigned char c : s) {
      crc ^= c;
      for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x95ac9329ac4bc9b5ULL : crc >> 1;
    }
    return crc;
  };
  std::string data;
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 80; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    data.push_back(static_cast<char>(x));
  }
  for (size_t from = 0; from < 8; ++from) {  // each alignment of the string's own bytes
    for (size_t n = 0; from + n <= data.size(); ++n) {
      EXPECT_EQ(Crc64(0, data.data() + from, n), bytewise(0, data.substr(from, n)))
          << from << " " << n;
    }
  }
  EXPECT_EQ(Crc64(Crc64(0, data.data(), 13), data.data() + 13, 67), bytewise(0, data));
}

TEST(RedisCrc, KeySlotMatchesClusterKeyslot) {
  EXPECT_EQ(KeySlot("foo"), 12182);        // CLUSTER KEYSLOT foo
  EXPECT_EQ(KeySlot("123456789"), 12739);  // CRC16/XMODEM check value 0x31C3 % 16384
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("user1000"));
  // Hash tags as the cluster specification defines them; values from an independent CRC16
  // (Python's binascii.crc_hqx) so that a wrong tag rule cannot pass by comparing with itself.
  EXPECT_EQ(KeySlot("foo{}{bar}"), 8363);     // empty first tag: the whole key is hashed
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), 4015);  // the tag is "{bar"
  EXPECT_EQ(KeySlot("foo{bar}{zap}"), 5061);  // the first tag only: "bar"
  EXPECT_EQ(KeySlot("{}"), 15257);
}

}  // namespace
}  // namespace mdb::engine::redis
