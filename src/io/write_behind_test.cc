// Files written behind hold exactly the bytes given, in order or not; what is a window behind
// the writer has left the page cache; a full disk, or a write-back that failed, is an error
// that says so.
#include "io/write_behind.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/test_dir.h"
#include "io/file_sink_testing.h"

namespace mdb::io {
namespace {

namespace fs = std::filesystem;

TEST(WriteBehindSink, WritesOfAnySizeMakeTheSameFile) {
  // Past the window, so that pages are waited for and dropped while the file is written.
  const std::string data = Pattern(WriteBehind::kWindow + (3u << 20) + 12345);
  const fs::path dir = common::FreshTestDir("write-behind");
  ExpectWritesOfAnySizeMakeTheSameFile<WriteBehindSink>(data, dir);
  fs::remove_all(dir);
}

TEST(WriteBehind, WritesOutOfOrderAfterTheWindowMovedLandWhereTheyBelong) {
  // In order past the window, then back over what was dropped, then on past the end.
  const fs::path dir = common::FreshTestDir("write-behind");
  fs::path p = dir / "mixed";
  const size_t step = WriteBehind::kStep;
  const std::string want = Pattern(WriteBehind::kWindow + 8 * step);
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  WriteBehind file(fd, p.string());
  const size_t first = WriteBehind::kWindow + 4 * step;
  std::string damaged = want.substr(0, first);
  damaged[3] ^= 1;
  damaged[first - 1] ^= 1;
  ASSERT_TRUE(file.Write(damaged.data(), first, 0).ok());
  ASSERT_TRUE(file.Write(want.data(), 0, 12345).ok());  // nothing at all, anywhere
  ASSERT_TRUE(file.Write(want.data() + first - step, step, first - step).ok());
  ASSERT_TRUE(file.Write(want.data(), 4096, 0).ok());
  ASSERT_TRUE(file.Write(want.data() + first, want.size() - first, first).ok());
  file.Kick();
  close(fd);
  EXPECT_EQ(common::ReadTestFile(p), want);
  fs::remove_all(dir);
}

TEST(WriteBehind, PagesWrittenOutOfOrderLandWhereTheyBelong) {
  // An incremental's pages onto a file: backwards, after an in-order start.
  const fs::path dir = common::FreshTestDir("write-behind");
  fs::path p = dir / "pages";
  std::string want = Pattern(64 * 8192);
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, static_cast<off_t>(want.size())), 0);
  WriteBehind file(fd, p.string());
  ASSERT_TRUE(file.Write(want.data(), 8192, 0).ok());
  for (size_t page = 63; page >= 1; --page) {
    ASSERT_TRUE(file.Write(want.data() + page * 8192, 8192, page * 8192).ok());
  }
  file.Kick();
  close(fd);
  EXPECT_EQ(common::ReadTestFile(p), want);
  fs::remove_all(dir);
}

// How many of the file's pages in [from, to) are in the page cache.
size_t Resident(const fs::path& p, size_t from, size_t to) {
  int fd = open(p.c_str(), O_RDONLY);
  if (fd < 0) return SIZE_MAX;
  void* map = mmap(nullptr, to, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return SIZE_MAX;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in((to + page - 1) / page);
  size_t n = SIZE_MAX;
  if (mincore(map, to, in.data()) == 0) {
    n = 0;
    for (size_t i = from / page; i < in.size(); ++i) n += in[i] & 1;
  }
  munmap(map, to);
  return n;
}

TEST(WriteBehind, WhatIsAWindowBehindTheWriterHasLeftThePageCache) {
  const fs::path dir = common::FreshTestDir("write-behind");
  struct statfs fsinfo;
  ASSERT_EQ(statfs(dir.c_str(), &fsinfo), 0);
  if (fsinfo.f_type == TMPFS_MAGIC) GTEST_SKIP() << "a tmpfs keeps its pages: they are the file";
  fs::path p = dir / "big";
  const size_t size = 3 * WriteBehind::kWindow;
  const std::string block = Pattern(WriteBehind::kStep);
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  WriteBehind file(fd, p.string());
  for (size_t off = 0; off < size; off += block.size()) {
    ASSERT_TRUE(file.Write(block.data(), block.size(), off).ok());
  }
  // Everything up to a window and a step behind the end was waited for and dropped.
  const size_t behind = size - WriteBehind::kWindow - WriteBehind::kStep;
  EXPECT_EQ(Resident(p, 0, behind), 0u);
  // The last window is still cached: dropping is what the writer did, not the kernel's choice.
  EXPECT_GT(Resident(p, size - WriteBehind::kStep, size), 0u);
  file.Kick();
  close(fd);
  fs::remove_all(dir);
}

TEST(WriteBehind, AFullDiskIsUnavailableAndSaysSo) {
  int fd = open("/dev/full", O_WRONLY);
  if (fd < 0) GTEST_SKIP() << "no /dev/full here";
  WriteBehind file(fd, "/dev/full");
  const std::string block = Pattern(4096);
  absl::Status st = file.Write(block.data(), block.size(), 0);
  close(fd);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("the file system holding it is full"), std::string::npos) << st;
}

// sync_file_range as a file system that fails its write-back would answer: the waits fail
// with `fail_errno`, starting write-back never does.
int fail_errno = 0;
int FailingWaits(int fd, off_t offset, off_t n, unsigned int flags) {
  if ((flags & SYNC_FILE_RANGE_WAIT_AFTER) == 0) return sync_file_range(fd, offset, n, flags);
  errno = fail_errno;
  return -1;
}

TEST(WriteBehind, AFailedWriteBackIsAnErrorAndOnlyARefusedCallIsLeftToTheFinalSync) {
  const fs::path dir = common::FreshTestDir("write-behind");
  const std::string block = Pattern(WriteBehind::kStep);
  for (int err : {EIO, ENOSPC, ESTALE, EINVAL, ESPIPE}) {
    fail_errno = err;
    fs::path p = dir / ("errno-" + std::to_string(err));
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    WriteBehind file(fd, p.string(), &FailingWaits);
    absl::Status st;
    for (uint64_t off = 0; st.ok() && off <= 2 * WriteBehind::kWindow; off += block.size()) {
      st = file.Write(block.data(), block.size(), off);
    }
    const absl::Status waited = WaitWritten(fd, p.string(), &FailingWaits);
    close(fd);
    if (err == EINVAL || err == ESPIPE) {
      EXPECT_TRUE(st.ok()) << err << " " << st;
      EXPECT_TRUE(waited.ok()) << err << " " << waited;
    } else {
      EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << err << " " << st;
      EXPECT_NE(st.message().find("write-back of '" + p.string() + "': " + strerror(err)),
                std::string::npos)
          << st;
      EXPECT_EQ(waited.code(), absl::StatusCode::kUnavailable) << err;
    }
  }
  fs::remove_all(dir);
}

TEST(WrittenFiles, EachFileIsWaitedForAndClosedAndAFailureIsTheCallersError) {
  const fs::path dir = common::FreshTestDir("write-behind");
  auto open_one = [&](int i) {
    return open((dir / std::to_string(i)).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  };
  auto is_open = [](int fd) { return fcntl(fd, F_GETFD) != -1; };
  {
    WrittenFiles files(2);  // the real call: nothing fails
    std::vector<int> fds;   // all opened first: a closed descriptor's number is not reused
    for (int i = 0; i < 4; ++i) fds.push_back(open_one(i));
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(files.Add(fds[i], std::to_string(i)).ok());
    EXPECT_FALSE(is_open(fds[0]));  // waited for once two more were pending
    EXPECT_FALSE(is_open(fds[1]));
    EXPECT_TRUE(is_open(fds[2]));
    ASSERT_TRUE(files.Finish().ok());
    EXPECT_FALSE(is_open(fds[3]));
  }
  fail_errno = EIO;
  {
    WrittenFiles files(1, &FailingWaits);
    const int first = open_one(10);
    const int second = open_one(11);
    ASSERT_TRUE(files.Add(first, "first").ok());
    absl::Status st = files.Add(second, "second");  // waits for the first: it failed
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
    EXPECT_NE(st.message().find("'first'"), std::string::npos) << st;
    EXPECT_FALSE(is_open(first));
    EXPECT_EQ(files.Finish().code(), absl::StatusCode::kUnavailable);  // the second, too
    EXPECT_FALSE(is_open(second));
  }
  {
    int fd = open_one(20);
    {
      WrittenFiles files(4, &FailingWaits);
      ASSERT_TRUE(files.Add(fd, "never waited").ok());
    }  // an error path elsewhere: closed unwaited
    EXPECT_FALSE(is_open(fd));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mdb::io
