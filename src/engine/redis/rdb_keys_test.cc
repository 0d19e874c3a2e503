#include "engine/redis/rdb_keys.h"

#include <gtest/gtest.h>

namespace mdb::engine::redis {
namespace {

// A tiny RDB written by hand: header, an AUX field, db 0, a string key with a millisecond expiry,
// an integer-encoded string, and EOF.
TEST(RdbKeys, SplitsAnRdbIntoDumpPayloads) {
  std::string rdb = "REDIS0010";
  rdb += "\xfa";
  rdb += "\x05redis";
  rdb +=
      "\x03"
      "7.0";
  rdb += "\xfe";
  rdb += '\0';
  rdb += "\xfc";
  rdb += std::string("\x00\x10\x00\x00\x00\x00\x00\x00", 8);  // 4096 ms since the epoch
  rdb += '\0';                                                // type string
  rdb += "\x01k";
  rdb += "\x05hello";
  rdb += '\0';
  rdb += "\x01n";
  rdb += "\xc0\x2a";  // int8 42
  rdb += "\xff";
  rdb += std::string(8, '\0');
  io::StringSource src(rdb);
  std::vector<RdbKey> keys;
  ASSERT_TRUE(ForEachRdbKey(&src, [&](const RdbKey& k) {
                keys.push_back(k);
                return absl::OkStatus();
              }).ok());
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].key, "k");
  EXPECT_EQ(keys[0].expire_at_ms, 4096);
  std::string body = std::string(1, '\0') + "\x05hello" + std::string("\x0a\x00", 2);
  EXPECT_EQ(keys[0].payload.substr(0, body.size()), body);
  EXPECT_EQ(keys[0].payload.size(), body.size() + 8);
  EXPECT_EQ(keys[1].key, "n");
  EXPECT_EQ(keys[1].expire_at_ms, -1);
  EXPECT_EQ(keys[1].payload.substr(0, 3), std::string("\x00\xc0\x2a", 3));
}

// What a drill checks a restore against: per database, keys, those with a time to live and the
// order-free digest of their names; a function library (not a key) is walked over.
TEST(RdbKeys, CountsTheKeysOfEveryDatabase) {
  std::string rdb = "REDIS0010";
  rdb += "\xfe";
  rdb += '\0';  // db 0
  rdb += "\xfc";
  rdb += std::string("\x00\x10\x00\x00\x00\x00\x00\x00", 8);
  rdb += std::string("\x00\x01k\x05hello", 9);  // k, expiring
  rdb += std::string("\x00\x01n\xc0\x2a", 5);   // n
  rdb += "\xf5";
  rdb += "\x04#!lu";  // a function library's code
  rdb += "\xfe\x03";  // db 3
  rdb += std::string("\x00\x02zz\x01v", 6);
  rdb += "\xff";
  rdb += std::string(8, '\0');
  io::StringSource src(rdb);
  auto facts = CountRdbKeys(&src);
  ASSERT_TRUE(facts.ok()) << facts.status();
  ASSERT_EQ(facts->size(), 2u);
  EXPECT_EQ(facts->at(0).keys, 2u);
  EXPECT_EQ(facts->at(0).expiring, 1u);
  EXPECT_EQ(facts->at(0).names_hash, KeyNameHash("k") + KeyNameHash("n"));
  EXPECT_EQ(facts->at(3).keys, 1u);
  EXPECT_EQ(facts->at(3).expiring, 0u);
  EXPECT_EQ(facts->at(3).names_hash, KeyNameHash("zz"));
  // The same keys in another order give the same digest; another name does not.
  EXPECT_NE(KeyNameHash("k") + KeyNameHash("n"), KeyNameHash("k") + KeyNameHash("m"));
  io::StringSource cut(rdb.substr(0, rdb.size() - 12));
  EXPECT_EQ(CountRdbKeys(&cut).status().code(), absl::StatusCode::kDataLoss);
}

TEST(RdbKeys, KeyCountsMatchWhenOnlyExpiringKeysAreGone) {
  std::map<uint64_t, RdbDbFacts> recorded = {{0, {.keys = 10, .expiring = 3, .names_hash = 1}},
                                             {2, {.keys = 4, .expiring = 0, .names_hash = 2}}};
  EXPECT_TRUE(KeyCountProblems(recorded, {{0, {10, 3}}, {2, {4, 0}}}).empty());
  EXPECT_TRUE(KeyCountProblems(recorded, {{0, {7, 0}}, {2, {4, 0}}}).empty());  // all expired
  // A persistent key lost, even where expiring keys could hide it in a plain count.
  auto lost = KeyCountProblems(recorded, {{0, {9, 3}}, {2, {4, 0}}});
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_NE(lost[0].find("db0: 6 keys without"), std::string::npos) << lost[0];
  EXPECT_EQ(KeyCountProblems(recorded, {{0, {11, 4}}, {2, {4, 0}}}).size(), 1u);  // one too many
  EXPECT_EQ(KeyCountProblems(recorded, {{0, {10, 3}}}).size(), 1u);               // db2 missing
  auto extra = KeyCountProblems(recorded, {{0, {10, 3}}, {2, {4, 0}}, {5, {1, 0}}});
  ASSERT_EQ(extra.size(), 1u);
  EXPECT_NE(extra[0].find("db5: 1 keys restored where the backup recorded none"),
            std::string::npos);
}

TEST(RdbKeys, RefusesTruncatedAndForeignInput) {
  io::StringSource junk("NOTANRDB!");
  EXPECT_EQ(ForEachRdbKey(&junk, [](const RdbKey&) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kDataLoss);
  io::StringSource cut(std::string("REDIS0010\x00\x01k", 12));
  EXPECT_EQ(ForEachRdbKey(&cut, [](const RdbKey&) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kDataLoss);
}

// Lengths from a damaged or hostile RDB are checked before anything is allocated: once a key name
// declaring 2^62 bytes ended the process (std::length_error from resize).
TEST(RdbKeys, DeclaredLengthsPastRedisLimitsAreRefusedBeforeAllocating) {
  std::string head = std::string("REDIS0010") + "\xfe" + '\0';
  std::string huge_key = head + '\0' + "\x81" + std::string("\x40\0\0\0\0\0\0\0", 8);
  std::string huge_lzf =
      head + '\0' + "\xc3" + "\x81" + std::string("\x40\0\0\0\0\0\0\0", 8) + "\x05";
  for (const std::string& rdb : {huge_key, huge_lzf}) {
    io::StringSource src(rdb);
    absl::Status st = ForEachRdbKey(&src, [](const RdbKey&) { return absl::OkStatus(); });
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    EXPECT_NE(st.message().find("more than Redis allows"), std::string::npos) << st;
  }
}

// An LZF-compressed key whose back-references (3 bytes make 264) run past its declared length:
// refused at the first step past it. Before, 64 MiB of them were expanded to 5.6 GiB first.
TEST(RdbKeys, AnLzfBombIsRefusedAtItsDeclaredLength) {
  std::string lzf = std::string("\x00", 1) + "a";                          // one literal byte
  for (int i = 0; i < 100000; ++i) lzf += std::string("\xe0\xff\x00", 3);  // 264 bytes each
  auto length = [](uint64_t n) {  // RDB length: 0x80, then 32 bits big-endian
    return std::string{'\x80', static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8), static_cast<char>(n)};
  };
  std::string rdb = std::string("REDIS0010") + "\xfe" + '\0' + '\0' + "\xc3" + length(lzf.size()) +
                    length(1000) + lzf;
  io::StringSource src(rdb);
  absl::Status st = ForEachRdbKey(&src, [](const RdbKey&) { return absl::OkStatus(); });
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("more than its declared 1000 bytes"), std::string::npos) << st;
}

}  // namespace
}  // namespace mdb::engine::redis
