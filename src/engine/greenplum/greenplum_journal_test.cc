// WAL segments in the journal store: listed as segments by their piece names, and segments that
// an older version stored as backups of their own moved into the store with their commit times.
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_join.h"
#include "common/test_dir.h"
#include "common/time_util.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/greenplum/wal_names.h"
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
  // A third "wal." backup that is not a segment (its metadata mangled), and a fourth whose
  // manifest is damaged: both reported and left where they are; the others still move.
  {
    auto w = std::move(
        *repo->StartBackup({.backup_id = "wal.c1.seg0.000000010000000000000009", .engine = "x"}));
    io::StringSource src(data);
    ASSERT_TRUE(w->AddStream("journal/seg0/000000010000000000000009", &src).ok());
    ASSERT_TRUE(w->Commit("mangled").ok());
  }
  ASSERT_TRUE(storage->Put("manifests/wal.c1.seg0.00000001000000000000000A", "garbage").ok());
  GreenplumDriver driver;
  auto moved = driver.UpgradeRepository(repo.get(), *repo->ListBackups());
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->moved, 2);
  ASSERT_EQ(moved->problems.size(), 2u) << absl::StrJoin(moved->problems, "\n");
  EXPECT_EQ(moved->problems[0].rfind("wal.c1.seg0.000000010000000000000009: ", 0), 0u);
  EXPECT_EQ(moved->problems[1].rfind("wal.c1.seg0.00000001000000000000000A: ", 0), 0u);
  EXPECT_EQ(repo->ListBackups()->size(), 2u);
  EXPECT_EQ(driver.UpgradeRepository(repo.get(), *repo->ListBackups())->moved, 0);  // once
  // A listing older than a move (another start moved it since): nothing to report.
  auto stale = driver.UpgradeRepository(repo.get(), {"wal.c1.seg0.7001.000000010000000000000002"});
  EXPECT_EQ(stale->moved, 0);
  EXPECT_TRUE(stale->problems.empty());

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

TEST(GreenplumJournal, ASegmentStoredTwiceIsOneSegmentForPlanning) {
  auto dir = common::FreshTestDir("gp_journal_dup");
  auto storage = std::move(*storage::OpenPosixStorage(dir.string()));
  auto repo = std::move(*repo::Repository::Init(storage.get(), {}));
  // Moved from an older version (its commit time in the name), then streamed again by an
  // archiver that restarted before it had seen the move: two pieces, one segment.
  const std::string file = "000000010000000000000002";
  const absl::Time older = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(repo->journal()
                  .Put("c1", "seg0", PieceName("7001", file, older), 1 << 25, 3 << 24, "a")
                  .ok());
  ASSERT_TRUE(
      repo->journal().Put("c1", "seg0", PieceName("7001", file), 1 << 25, 3 << 24, "a").ok());
  ASSERT_TRUE(
      repo->journal()
          .Put("c1", "seg0", PieceName("7001", "000000010000000000000003"), 3 << 24, 1 << 26, "b")
          .ok());
  auto segments = ListSegments(&repo->journal(), "c1", "seg0");
  ASSERT_TRUE(segments.ok()) << segments.status();
  ASSERT_EQ(segments->size(), 2u);
  EXPECT_EQ((*segments)[0].committed, older);  // the earlier commit of the two
  EXPECT_EQ((*segments)[1].start, (*segments)[0].end);
  // Accounting and pruning still see both stored objects.
  GreenplumDriver driver;
  EXPECT_EQ(driver.ListJournal(&repo->journal(), "c1")->size(), 3u);
  ASSERT_TRUE(driver.PruneJournal(&repo->journal(), "c1", {}).ok());
  EXPECT_TRUE(repo->journal().List("c1")->empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::engine::greenplum
