#include "ops/recovery_window.h"

#include <gtest/gtest.h>

namespace mdb::ops {
namespace {

absl::Time T(int minutes) { return absl::FromUnixSeconds(1'800'000'000) + absl::Minutes(minutes); }

JournalEnd Reach(int minutes, bool gap = false) {
  return {.until = T(minutes),
          .stopped = gap ? "shard 'seg0': a gap" : "shard 'seg0': newest",
          .gap = gap};
}

TEST(RecoveryWindow, BackupPointsAloneWithoutAJournal) {
  auto w = BuildWindow({{.id = "b2", .at = T(20)}, {.id = "b1", .at = T(10)}}, false);
  ASSERT_EQ(w.spans.size(), 2u);
  EXPECT_EQ(w.spans[0].backup_ids, std::vector<std::string>{"b1"});  // oldest first
  EXPECT_EQ(w.spans[0].from, w.spans[0].to);
  EXPECT_EQ(w.spans[1].from, T(20));
  EXPECT_TRUE(w.gaps.empty());
  EXPECT_FALSE(w.point_in_time);
}

TEST(RecoveryWindow, JournalJoinsBackupsAndAGapSplitsThem) {
  // b1's journal runs into b2 (one span); b2's stops at a gap before b3; b3's reaches now.
  auto w = BuildWindow({{.id = "b1", .at = T(0), .reach = Reach(25)},
                        {.id = "b2", .at = T(20), .reach = Reach(30, /*gap=*/true)},
                        {.id = "b3", .at = T(50), .reach = Reach(70)},
                        {.id = "b4", .at = T(60)}},  // its journal not listed yet: inside b3's
                       true);
  ASSERT_EQ(w.spans.size(), 2u);
  EXPECT_EQ(w.spans[0].from, T(0));
  EXPECT_EQ(w.spans[0].to, T(30));
  EXPECT_EQ(w.spans[0].backup_ids, (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(w.spans[1].from, T(50));
  EXPECT_EQ(w.spans[1].to, T(70));
  EXPECT_EQ(w.spans[1].backup_ids, (std::vector<std::string>{"b3", "b4"}));
  EXPECT_EQ(w.spans[1].stopped, "shard 'seg0': newest");
  ASSERT_EQ(w.gaps.size(), 1u);
  EXPECT_EQ(w.gaps[0].from, T(30));
  EXPECT_EQ(w.gaps[0].to, T(50));
  EXPECT_EQ(w.gaps[0].reason, "shard 'seg0': a gap");
}

TEST(RecoveryWindow, AJournalThatEndsBeforeTheNextBackupIsAGapOfArchiving) {
  auto w =
      BuildWindow({{.id = "b1", .at = T(0), .reach = Reach(5)}, {.id = "b2", .at = T(10)}}, true);
  ASSERT_EQ(w.gaps.size(), 1u);
  EXPECT_NE(w.gaps[0].reason.find("archiving stopped or fell behind"), std::string::npos);
  EXPECT_EQ(w.spans[1].from, w.spans[1].to);  // b2: its point only, so far
  EXPECT_NE(w.spans[1].stopped.find("no journal archived"), std::string::npos);
}

}  // namespace
}  // namespace mdb::ops
