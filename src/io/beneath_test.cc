#include "io/beneath.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "common/test_dir.h"

namespace mdb::io {
namespace {

namespace fs = std::filesystem;

class BeneathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = common::FreshTestDir("beneath");
    fs::create_directories(base_ / "elsewhere");
  }
  void TearDown() override { fs::remove_all(base_); }

  BeneathDir Target() { return std::move(*BeneathDir::Open((base_ / "target").string())); }
  bool ElsewhereEmpty() { return fs::is_empty(base_ / "elsewhere"); }

  fs::path base_;
};

TEST_F(BeneathTest, WritesNestedFilesAndDirectories) {
  auto dir = Target();
  auto fd = dir.OpenFile("base/1/2600", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_EQ(write(*fd, "data", 4), 4);
  close(*fd);
  auto d = dir.MakeDirs("pg_wal/archive_status", 0750);
  ASSERT_TRUE(d.ok()) << d.status();
  close(*d);
  std::ifstream in(base_ / "target/base/1/2600");
  std::string got;
  in >> got;
  EXPECT_EQ(got, "data");
  EXPECT_EQ(fs::status(base_ / "target/pg_wal/archive_status").permissions() & fs::perms::all,
            fs::perms(0750));
}

TEST_F(BeneathTest, AHardLinkIsRefusedBeforeItsFileIsTruncated) {
  auto dir = Target();
  { std::ofstream(base_ / "elsewhere" / "shadow") << "precious"; }
  fs::create_hard_link(base_ / "elsewhere" / "shadow", base_ / "target" / "planted");
  auto fd = dir.OpenFile("planted", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kFailedPrecondition) << fd.status();
  EXPECT_EQ(fs::file_size(base_ / "elsewhere" / "shadow"), 8u);  // not emptied on the way
}

TEST_F(BeneathTest, AnOwnDirectoryReplacedByALinkIsNotFollowed) {
  fs::create_directory_symlink(base_ / "elsewhere", base_ / "staging");
  auto dir = BeneathDir::OpenOwn((base_ / "staging").string());
  EXPECT_FALSE(dir.ok());
  fs::create_directory(base_ / "mine");
  EXPECT_TRUE(BeneathDir::OpenOwn((base_ / "mine").string()).ok());
}

TEST_F(BeneathTest, NamesThatLeaveTheRootAreRefused) {
  auto dir = Target();
  for (std::string bad : std::vector<std::string>{"../x", "a/../../x", "/etc/x", "", "a//b", "./a",
                                                  std::string("a\0b", 3), "a/."}) {
    auto fd = dir.OpenFile(bad, O_WRONLY | O_CREAT, 0600);
    ASSERT_FALSE(fd.ok()) << bad;
    EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument) << fd.status();
  }
  EXPECT_FALSE(fs::exists(base_ / "x"));
}

TEST_F(BeneathTest, LinksOnTheWayAreNeverFollowed) {
  auto dir = Target();
  // A link made by an earlier archive entry, and one already on disk: neither is followed, as
  // a parent or as the file itself.
  ASSERT_TRUE(dir.Symlink("pg_escape", (base_ / "elsewhere").string()).ok());
  fs::create_symlink(base_ / "elsewhere" / "f", base_ / "target" / "file_link");
  fs::create_directories(base_ / "target" / "sub");
  fs::create_directory_symlink(base_ / "elsewhere", base_ / "target" / "sub" / "deep");
  for (std::string through : {"pg_escape/pwned.txt", "file_link", "sub/deep/pwned.txt"}) {
    auto fd = dir.OpenFile(through, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_FALSE(fd.ok()) << through;
    EXPECT_EQ(fd.status().code(), absl::StatusCode::kFailedPrecondition) << fd.status();
    EXPECT_TRUE(absl::StrContains(fd.status().message(), "symbolic link")) << fd.status();
  }
  auto d = dir.MakeDirs("pg_escape/sub", 0700);
  EXPECT_FALSE(d.ok());
  EXPECT_FALSE(dir.MakeDirs("pg_escape", 0700).ok());  // not a directory: a link
  EXPECT_TRUE(ElsewhereEmpty());
  // chown and remove act on the link, never on its target.
  EXPECT_TRUE(dir.Chown("pg_escape", getuid(), getgid()).ok());
  EXPECT_TRUE(dir.Remove("pg_escape").ok());
  EXPECT_TRUE(fs::exists(base_ / "elsewhere"));
}

TEST_F(BeneathTest, TheCachedParentIsNotAShortcutAroundLinks) {
  auto dir = Target();
  auto fd = dir.OpenFile("a/b/one", O_WRONLY | O_CREAT, 0600);
  ASSERT_TRUE(fd.ok()) << fd.status();
  close(*fd);
  // "a/b" is replaced by a link between two writes into it: the cached descriptor still names
  // the removed directory, never the link's target.
  fs::remove_all(base_ / "target/a/b");
  fs::create_directory_symlink(base_ / "elsewhere", base_ / "target/a/b");
  auto through = dir.OpenFile("a/b/two", O_WRONLY | O_CREAT, 0600);
  if (through.ok()) close(*through);
  EXPECT_TRUE(ElsewhereEmpty());
  BeneathDir fresh = Target();  // no cache: the link is seen and refused
  EXPECT_EQ(fresh.OpenFile("a/b/two", O_WRONLY | O_CREAT, 0600).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(ElsewhereEmpty());
}

TEST_F(BeneathTest, ALinkNeverReplacesADirectory) {
  auto dir = Target();
  auto d = dir.MakeDirs("pg_tblspc/16385", 0700);
  ASSERT_TRUE(d.ok());
  close(*d);
  auto st = dir.Symlink("pg_tblspc/16385", (base_ / "elsewhere").string());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
}

TEST_F(BeneathTest, RemoveTreeTakesLinksAwayWithoutFollowingThem) {
  auto dir = Target();
  std::ofstream(base_ / "elsewhere" / "precious") << "keep";
  for (const char* f : {"stage/a/1", "stage/a/b/2", "stage/3"}) {
    auto fd = dir.OpenFile(f, O_WRONLY | O_CREAT, 0600);
    ASSERT_TRUE(fd.ok()) << fd.status();
    close(*fd);
  }
  // What a writer of the tree may have planted: links to a file and a directory elsewhere.
  fs::create_symlink(base_ / "elsewhere", base_ / "target/stage/a/to-dir");
  fs::create_symlink(base_ / "elsewhere" / "precious", base_ / "target/stage/to-file");
  ASSERT_TRUE(dir.RemoveTree("stage").ok());
  EXPECT_FALSE(fs::exists(base_ / "target/stage"));
  EXPECT_TRUE(fs::exists(base_ / "elsewhere" / "precious"));
  EXPECT_TRUE(dir.RemoveTree("stage").ok());  // gone already: fine
  // The tree itself a link: the link goes, not what it points at.
  fs::create_symlink(base_ / "elsewhere", base_ / "target/stage");
  ASSERT_TRUE(dir.RemoveTree("stage").ok());
  EXPECT_TRUE(fs::exists(base_ / "elsewhere" / "precious"));
  EXPECT_FALSE(fs::is_symlink(base_ / "target/stage"));
}

}  // namespace
}  // namespace mdb::io
