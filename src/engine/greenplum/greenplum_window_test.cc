// How far each backup's archived WAL reaches (GreenplumDriver::JournalReaches): the slowest
// shard's chain, a gap named as one (also on a shard walked after one with nothing yet), and no
// reach while a shard has nothing archived past the backup.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "absl/strings/str_format.h"
#include "common/test_dir.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/greenplum/wal_names.h"
#include "storage/posix/posix_storage.h"

namespace mdb::engine::greenplum {
namespace {

absl::Time T(int s) { return absl::FromUnixSeconds(1'800'000'000 + s); }

// WAL file n of timeline 1 covers [n << 24, (n + 1) << 24) with 16 MiB segments.
std::string File(int n) { return absl::StrFormat("0000000100000000%08X", n); }

repo::Manifest Backup(int start_segment, std::vector<std::string> shards) {
  mdb_backup::v1::PgBackup meta;
  for (const auto& name : shards) {
    auto* s = meta.add_shards();
    s->set_name(name);
    s->set_start_lsn(FormatLsn((uint64_t{1} * start_segment << 24) + 0x28));
    s->set_timeline(1);
    s->set_system_id("7001");
  }
  repo::Manifest m;
  m.set_engine_metadata(meta.SerializeAsString());
  return m;
}

TEST(GreenplumWindow, TheSlowestShardAndGapsDecide) {
  auto dir = common::FreshTestDir("gp_window");
  auto storage = std::move(*storage::OpenPosixStorage(dir.string()));
  auto repo = std::move(*repo::Repository::Init(storage.get(), {}));
  auto put = [&](const std::string& shard, int n, int committed) {
    ASSERT_TRUE(repo->journal()
                    .Put("c1", shard, PieceName("7001", File(n), T(committed)),
                         uint64_t{1} * n << 24, uint64_t{1} * (n + 1) << 24, "wal")
                    .ok());
  };
  put("seg0", 2, 10);
  put("seg0", 3, 20);
  put("seg1", 2, 15);
  put("seg1", 5, 40);  // seg1 lost 3 and 4
  GreenplumDriver driver;
  const repo::Manifest a = Backup(2, {"seg0", "seg1"});  // both chains start at 2
  const repo::Manifest b = Backup(3, {"seg1", "seg0"});  // seg1: a gap at once; seg0 reaches 20
  const repo::Manifest c = Backup(4, {"seg0", "seg1"});  // seg0: nothing archived yet; seg1 gap
  const repo::Manifest d = Backup(6, {"seg0"});          // nothing yet
  auto reaches = driver.JournalReaches(&repo->journal(), "c1", {&a, &b, &c, &d, nullptr});
  ASSERT_TRUE(reaches.ok()) << reaches.status();
  ASSERT_EQ(reaches->size(), 5u);
  ASSERT_TRUE((*reaches)[0]);
  EXPECT_EQ((*reaches)[0]->until, T(15));  // seg1 stops after file 2 (a gap): slower than seg0
  EXPECT_TRUE((*reaches)[0]->gap);
  EXPECT_NE((*reaches)[0]->stopped.find("shard 'seg1': the archived WAL has a gap after"),
            std::string::npos);
  ASSERT_TRUE((*reaches)[1]);
  EXPECT_TRUE((*reaches)[1]->gap);
  EXPECT_EQ((*reaches)[1]->until, absl::InfinitePast());  // no time past its own point
  ASSERT_TRUE((*reaches)[2]) << "a gap is reported even after a shard with nothing yet";
  EXPECT_TRUE((*reaches)[2]->gap);
  EXPECT_FALSE((*reaches)[3]);
  EXPECT_FALSE((*reaches)[4]);  // no manifest (deleted, damaged)
  std::filesystem::remove_all(dir);
}

// Segments whose transaction ends the archiver read: the chain reaches its last commit, not the
// time its WAL was stored; WAL without a transaction moves nothing; an older segment in the chain
// (ends unknown) counts by when it was stored.
TEST(GreenplumWindow, TheLastTransactionNotTheLastSegmentDecides) {
  auto dir = common::FreshTestDir("gp_window_ends");
  auto storage = std::move(*storage::OpenPosixStorage(dir.string()));
  auto repo = std::move(*repo::Repository::Init(storage.get(), {}));
  auto put = [&](const std::string& shard, int n, std::optional<int> committed,
                 std::optional<int> last_end, bool read) {
    SegmentSummary summary{.readable = read};
    if (last_end) summary.last = TransactionEnd{.time = T(*last_end)};
    std::optional<absl::Time> stored;
    if (committed) stored = T(*committed);
    ASSERT_TRUE(repo->journal()
                    .Put("c1", shard, PieceName("7001", File(n), stored, &summary),
                         uint64_t{1} * n << 24, uint64_t{1} * (n + 1) << 24, "wal")
                    .ok());
  };
  put("seg0", 2, std::nullopt, 5, true);
  put("seg0", 3, std::nullopt, std::nullopt, true);  // a checkpoint and a switch: no commit
  put("seg1", 2, 30, std::nullopt, false);           // moved from an older version: stored at 30
  put("seg1", 3, std::nullopt, 8, true);
  GreenplumDriver driver;
  const repo::Manifest both = Backup(2, {"seg0", "seg1"});
  const repo::Manifest seg0 = Backup(2, {"seg0"});
  const repo::Manifest idle = Backup(3, {"seg0"});
  auto reaches = driver.JournalReaches(&repo->journal(), "c1", {&both, &seg0, &idle});
  ASSERT_TRUE(reaches.ok()) << reaches.status();
  EXPECT_EQ((*reaches)[0]->until, T(5));  // seg0's last commit; seg1 reaches 30
  EXPECT_EQ((*reaches)[1]->until, T(5));
  EXPECT_NE((*reaches)[1]->stopped.find("last transaction"), std::string::npos);
  EXPECT_EQ((*reaches)[2]->until, absl::InfinitePast());  // WAL, but no commit past the backup
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::engine::greenplum
