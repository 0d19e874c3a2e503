#include "engine/greenplum/wal_messages.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace mdb::engine::greenplum {
namespace {

std::string XLogData(Lsn start, const std::string& wal) {
  std::string m = "w";
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<char>((start >> (8 * i)) & 0xff));
  m.append(16, '\0');  // walEnd, sendTime
  return m + wal;
}

TEST(ParseWalMessage, ReadsDataAndKeepalives) {
  auto data = ParseWalMessage(XLogData(0x1234567890, "abc"));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->kind, WalMessage::Kind::kData);
  EXPECT_EQ(data->start, 0x1234567890u);
  EXPECT_EQ(data->data, "abc");
  std::string keepalive = "k" + std::string(16, '\0') + std::string(1, '\1');
  auto k = ParseWalMessage(keepalive);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->kind, WalMessage::Kind::kKeepalive);
  EXPECT_TRUE(k->reply_requested);
  EXPECT_EQ(ParseWalMessage("x-unknown")->kind, WalMessage::Kind::kOther);
}

TEST(ParseWalMessage, RefusesShortHeaders) {
  EXPECT_TRUE(absl::IsDataLoss(ParseWalMessage("w" + std::string(23, '\0')).status()));
  EXPECT_TRUE(absl::IsDataLoss(ParseWalMessage("k" + std::string(16, '\0')).status()));
}

TEST(SegmentAssembler, CutsWholeSegmentsAcrossMessages) {
  SegmentAssembler a(8192, 4096);
  std::vector<std::pair<Lsn, std::string>> got;
  auto take = [&](Lsn at, std::string s) {
    got.emplace_back(at, std::move(s));
    return absl::OkStatus();
  };
  ASSERT_TRUE(a.Add(8192, std::string(3000, 'a'), take).ok());
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE(a.Add(8192 + 3000, std::string(4000, 'b'), take).ok());  // ends one, starts two
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, 8192u);
  EXPECT_EQ(got[0].second, std::string(3000, 'a') + std::string(1096, 'b'));
  EXPECT_EQ(a.next(), 8192u + 7000);
  ASSERT_TRUE(a.Add(8192 + 7000, std::string(1192 + 10, 'c'), take).ok());  // and into a third
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].first, 8192u + 4096);
  EXPECT_EQ(got[1].second, std::string(4096 - 1192, 'b') + std::string(1192, 'c'));
  EXPECT_EQ(a.next(), 8192u + 8192 + 10);
}

TEST(SegmentAssembler, RefusesGapsAndOverlaps) {
  SegmentAssembler a(0, 4096);
  auto take = [](Lsn, std::string) { return absl::OkStatus(); };
  ASSERT_TRUE(a.Add(0, "abcd", take).ok());
  EXPECT_TRUE(absl::IsDataLoss(a.Add(5, "x", take)));  // a gap
  EXPECT_TRUE(absl::IsDataLoss(a.Add(3, "x", take)));  // an overlap
  EXPECT_TRUE(a.Add(4, "e", take).ok());
}

TEST(SegmentAssembler, ASegmentNotTakenEndsTheStream) {
  SegmentAssembler a(0, 4096);
  auto refuse = [](Lsn, std::string) { return absl::UnavailableError("repository busy"); };
  EXPECT_TRUE(absl::IsUnavailable(a.Add(0, std::string(5000, 'a'), refuse)));
}

}  // namespace
}  // namespace mdb::engine::greenplum
