// WAL segments in the journal store: listed as segments by their piece names, and segments that
// an older version stored as backups of their own moved into the store with their commit times.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/test_dir.h"
#include "common/time_util.h"
#include "engine/greenplum/greenplum_engine.h"
#include "io/stream.h"
#include "storage/posix/posix_storage.h"

namespace mdb::engine::greenplum {
namespace {

TEST(GreenplumJournal, OlderSegmentBackupsMoveIntoTheStoreWithTheirCommitTimes) {
  auto dir = common::FreshTestDir("gp_journal");
  auto storage = std::move(*storage::OpenPosixStorage(dir.string()));
  auto repo = std::move(*repo::Repository::Init(storage.get(), {}));
  // As wal_stream.cc wrote them before the journal store (one with a system id, one without).
  const std::string data(1 << 16, 'w');
  std::map<std::string, absl::Time> committed;
  for (const auto& [id, meta] : std::vector<std::pair<std::string, std::string>>{
           {"wal.c1.seg0.7001.000000010000000000000002", "1\t33554432\t16777216\tc1\tseg0\t7001"},
           {"wal.c1.seg0.000000010000000000000003", "1\t50331648\t16777216\tc1\tseg0"}}) {
    auto w = std::move(*repo->StartBackup({.backup_id = id, .engine = "greenplum-wal"}));
    io::StringSource src(data);
    ASSERT_TRUE(w->AddStream("journal/seg0/" + id.substr(id.size() - 24), &src).ok());
    auto m = w->Commit(meta);
    ASSERT_TRUE(m.ok()) << m.status();
    committed[id.substr(id.size() - 24)] = common::FromProto(m->created_at());
  }
  GreenplumDriver driver;
  auto moved = driver.UpgradeRepository(repo.get());
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 2);
  EXPECT_TRUE(repo->ListBackups()->empty());
  EXPECT_EQ(*driver.UpgradeRepository(repo.get()), 0);  // once

  auto segments = ListSegments(&repo->journal(), "c1", "seg0");
  ASSERT_TRUE(segments.ok()) << segments.status();
  ASSERT_EQ(segments->size(), 2u);
  const ArchivedSegment& s = (*segments)[0];
  EXPECT_EQ(s.file, "000000010000000000000002");
  EXPECT_EQ(s.system_id, "7001");
  EXPECT_EQ(s.timeline, 1u);
  EXPECT_EQ(s.start, 33554432u);
  EXPECT_EQ(s.end, 50331648u);
  EXPECT_EQ(absl::ToUnixMicros(s.committed),
            absl::ToUnixMicros(committed["000000010000000000000002"]));
  EXPECT_EQ((*segments)[1].system_id, "");
  EXPECT_EQ(*repo->journal().Get(s.piece), data);
  // What accounting and pruning see: the same pieces.
  auto pieces = driver.ListJournal(&repo->journal(), "c1");
  ASSERT_EQ(pieces->size(), 2u);
  EXPECT_EQ((*pieces)[0].stored_bytes, s.journal_bytes);
  ASSERT_TRUE(driver.PruneJournal(&repo->journal(), "c1", {{"seg0", 50331648}}).ok());
  EXPECT_EQ(ListSegments(&repo->journal(), "c1", "")->size(), 1u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::engine::greenplum
