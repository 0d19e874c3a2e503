#include "ops/retention.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "common/time_util.h"

namespace mdb::ops {
namespace {

using Record = catalog::BackupRecord;
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

Record Make(const std::string& id, int age_days, bool automated, const std::string& parent = "") {
  Record r;
  r.set_id(id);
  *r.mutable_created_at() = common::ToProto(kNow - absl::Hours(24 * age_days));
  r.set_type(automated ? Record::AUTOMATED : Record::MANUAL);
  r.set_method(parent.empty() ? Record::BASE : Record::INCREMENTAL);
  r.set_parent_id(parent);
  return r;
}

TEST(Retention, OldAutomatedGoManualAndYoungStay) {
  auto expired =
      SelectExpired({Make("a-old", 10, true), Make("m-old", 30, false), Make("a-young", 2, true)},
                    kNow, absl::Hours(24 * 7));
  EXPECT_EQ(expired, std::vector<std::string>{"a-old"});
}

TEST(ChainPolicy, EverySeventhBackupIsBase) {
  std::vector<Record> history;
  EXPECT_FALSE(ChooseMethod(history).incremental);  // no backup yet: BASE
  for (int i = 0; i < 20; ++i) {
    ChainChoice c = ChooseMethod(history);
    history.push_back(Make("b" + std::to_string(i), 100 - i, true, c.parent_id));
    EXPECT_EQ(c.incremental, i % 7 != 0) << i;
    if (c.incremental) EXPECT_EQ(c.parent_id, "b" + std::to_string(i - 1));
  }
  EXPECT_FALSE(ChooseMethod({Make("orphan", 1, true, "gone")}).incremental);  // broken chain
}

TEST(Retention, NeverTheNewestBackup) {
  EXPECT_TRUE(SelectExpired({Make("only", 100, true)}, kNow, absl::Hours(24)).empty());
}

TEST(Retention, KeepsTheChainAKeptIncrementalNeeds) {
  auto expired = SelectExpired({Make("base", 9, true), Make("i1", 8, true, "base"),
                                Make("i2", 6, true, "i1"), Make("older", 20, true)},
                               kNow, absl::Hours(24 * 7));
  EXPECT_EQ(expired, std::vector<std::string>{"older"});
}

// Property test over random histories: whatever the history, (1) no MANUAL and no young backup is
// selected, (2) the newest survives, (3) every kept backup's whole parent chain is kept, (4) every
// selected backup really is old and AUTOMATED, and (5) everything else old, AUTOMATED and needed by
// nobody is selected (retention does not keep more than it must).
TEST(Retention, InvariantsHoldOnRandomHistories) {
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    std::vector<Record> history;
    int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) {
      bool incremental = i > 0 && rng() % 3 != 0;
      std::string parent = incremental ? history[rng() % history.size()].id() : "";
      history.push_back(
          Make("b" + std::to_string(i), static_cast<int>(rng() % 40), rng() % 4 != 0, parent));
    }
    absl::Duration retention = absl::Hours(24 * (1 + static_cast<int>(rng() % 14)));
    auto expired_list = SelectExpired(history, kNow, retention);
    std::set<std::string> expired(expired_list.begin(), expired_list.end());
    std::map<std::string, const Record*> by_id;
    const Record* newest = &history[0];
    for (const auto& b : history) {
      by_id[b.id()] = &b;
      if (common::ToUnixNanos(b.created_at()) > common::ToUnixNanos(newest->created_at())) {
        newest = &b;
      }
    }
    ASSERT_FALSE(expired.count(newest->id()));
    std::set<std::string> needed;
    for (const auto& b : history) {
      bool old = kNow - common::FromProto(b.created_at()) > retention;
      if (expired.count(b.id())) {
        ASSERT_TRUE(old && b.type() == Record::AUTOMATED) << b.id();
        continue;
      }
      for (const Record* p = &b; !p->parent_id().empty(); p = by_id[p->parent_id()]) {
        ASSERT_FALSE(expired.count(p->parent_id())) << "chain of " << b.id() << " broken";
        needed.insert(p->parent_id());
      }
    }
    for (const auto& b : history) {
      bool old = kNow - common::FromProto(b.created_at()) > retention;
      if (old && b.type() == Record::AUTOMATED && &b != newest && !needed.count(b.id())) {
        ASSERT_TRUE(expired.count(b.id())) << b.id() << " kept without a reason";
      }
    }
  }
}

}  // namespace
}  // namespace mdb::ops
