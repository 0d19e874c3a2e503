// Archives from a compromised source server or a bucket someone else can write to.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/test_dir.h"
#include "engine/greenplum/page_archive.h"
#include "engine/greenplum/page_archive_test_tar.h"
#include "engine/greenplum/tar_extract.h"
#include "io/stream.h"

namespace mdb::engine::greenplum {
namespace {

namespace fs = std::filesystem;
using testdata::Page;
using testdata::Tar;

// Archives from a compromised source server or a bucket someone else can write to: nothing they
// hold may write outside the restore target, by name or through a link, via the tar path
// (BASE backups) or the segment archive path (INCREMENTAL chains).
class HostileArchive : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() /
            ("mdb-hostile-" + std::to_string(getpid()) + "-" + std::to_string(GetParam()));
    fs::remove_all(base_);
    fs::create_directories(base_ / "elsewhere");
  }
  void TearDown() override { fs::remove_all(base_); }
  // Restores `tar` into the target the way a backup of that kind is restored.
  absl::Status Restore(const std::string& tar) {
    if (!GetParam()) {
      io::StringSource src(tar);
      return ExtractTar(&src, (base_ / "target").string(), -1, -1);
    }
    io::StringSource src(tar);
    io::StringSink sink;
    FileSizes files;
    ArchiveStats stats;
    absl::Status st = WriteArchive(&src, nullptr, 0, &sink, &files, &stats);
    if (!st.ok()) return st;
    io::StringSource archive(sink.data());
    return ApplyArchive(&archive, (base_ / "target").string(), -1, -1);
  }
  bool ElsewhereEmpty() { return fs::is_empty(base_ / "elsewhere"); }
  fs::path base_;
};

TEST_P(HostileArchive, ALinkFollowedByAWriteThroughItIsRefused) {
  Tar t;
  t.Link("pg_escape", (base_ / "elsewhere").string());
  t.File("pg_escape/pwned.txt", "owned");
  absl::Status st = Restore(t.Finish());
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_TRUE(ElsewhereEmpty());
}

TEST_P(HostileArchive, ATablespaceLinkIsNotAWayOutEither) {
  Tar t;
  t.Link("pg_tblspc/16385", (base_ / "elsewhere").string());
  t.File("pg_tblspc/16385/pwned.txt", "owned");
  absl::Status st = Restore(t.Finish());
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(ElsewhereEmpty());
}

// A tablespace link that points at itself once crashed the service (a throwing std::filesystem
// call on the loop during the stale-file scan); relative tablespace targets are refused.
TEST_P(HostileArchive, ARelativeOrLoopingTablespaceLinkIsRefused) {
  Tar t;
  t.Link("pg_tblspc/1", "1");
  absl::Status st = Restore(t.Finish());
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
}

TEST_P(HostileArchive, LinksOnDiskAreNotFollowed) {
  fs::create_directories(base_ / "target");
  fs::create_directory_symlink(base_ / "elsewhere", base_ / "target" / "base");
  Tar t;
  t.File("base/1/2600", "owned");
  absl::Status st = Restore(t.Finish());
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_TRUE(ElsewhereEmpty());
}

TEST_P(HostileArchive, NamesAboveTheRootAreRefused) {
  Tar t;
  t.File("base/../../pwned.txt", "owned");
  EXPECT_EQ(Restore(t.Finish()).code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(fs::exists(base_ / "pwned.txt"));
}

TEST_P(HostileArchive, WhatBaseBackupsHoldIsRestoredAndSetIdBitsDropped) {
  Tar t;
  t.Dir("base");
  t.File("base/1", "data", 06755);
  t.Link("pg_tblspc/16385", "/srv/tablespace");
  absl::Status st = Restore(t.Finish());
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(common::ReadTestFile(base_ / "target/base/1"), "data");
  EXPECT_EQ(fs::read_symlink(base_ / "target/pg_tblspc/16385"), "/srv/tablespace");
  struct stat s {};
  ASSERT_EQ(stat((base_ / "target/base/1").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07000, 0u);
}

INSTANTIATE_TEST_SUITE_P(TarAndSegmentArchive, HostileArchive, ::testing::Bool());

}  // namespace
}  // namespace mdb::engine::greenplum
