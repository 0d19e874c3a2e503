#include "engine/greenplum/wal_names.h"

#include <gtest/gtest.h>

namespace mdb::engine::greenplum {
namespace {

constexpr uint64_t k16M = 16 << 20;

TEST(Lsn, ParsesAndFormatsPostgresNotation) {
  EXPECT_EQ(ParseLsn("0/0"), 0u);
  EXPECT_EQ(ParseLsn("16/B374D848"), 0x16B374D848ull);
  EXPECT_EQ(FormatLsn(0x16B374D848ull), "16/B374D848");
  EXPECT_EQ(ParseLsn(FormatLsn(0xFFFFFFFF00000001ull)), 0xFFFFFFFF00000001ull);
  for (const char* bad : {"", "/", "1/", "/1", "12", "G/1", "1/2/3"}) {
    EXPECT_FALSE(ParseLsn(bad).has_value()) << bad;
  }
}

TEST(WalFileName, MatchesPostgresNaming) {
  // What pg_walfile_name() answers for these positions on timeline 1 with 16 MiB segments.
  EXPECT_EQ(WalFileName(1, *ParseLsn("0/1000000"), k16M), "000000010000000000000001");
  EXPECT_EQ(WalFileName(1, *ParseLsn("16/B374D848"), k16M), "0000000100000016000000B3");
  EXPECT_EQ(WalFileName(2, *ParseLsn("1/FF000000"), k16M), "0000000200000001000000FF");
  EXPECT_EQ(WalFileStart("0000000100000016000000B3", k16M), *ParseLsn("16/B3000000"));
  EXPECT_EQ(WalFileStart("000000010000000000000001", k16M), 0x1000000u);
  EXPECT_FALSE(WalFileStart("000000010000000000000100", k16M).has_value());  // 0x100 > 0xFF
  EXPECT_FALSE(WalFileStart("00000001000000000000001", k16M).has_value());
  EXPECT_FALSE(WalFileStart("0000000100000000000000XY", k16M).has_value());
  // Other segment sizes: 64 MiB segments are 64 per xlogid.
  EXPECT_EQ(WalFileName(1, 0x1C0000000ull, 64 << 20), "000000010000000100000030");
  EXPECT_EQ(WalFileStart(WalFileName(1, 0x1C4000000ull, 64 << 20), 64 << 20), 0x1C4000000ull);
}

}  // namespace
}  // namespace mdb::engine::greenplum
