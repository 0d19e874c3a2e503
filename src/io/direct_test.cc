// Files written around the page cache hold exactly the bytes given, whatever the sizes of the
// writes, the file's tail, or an alignment the filesystem refuses.
#include "io/direct.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/test_dir.h"
#include "io/file_sink_testing.h"

namespace mdb::io {
namespace {

namespace fs = std::filesystem;

TEST(DirectFileSink, WritesOfAnySizeMakeTheSameFile) {
  const std::string data = Pattern((3u << 20) + 12345);  // blocks, then a tail
  const fs::path dir = common::FreshTestDir("direct");
  ExpectWritesOfAnySizeMakeTheSameFile<DirectFileSink>(data, dir);
  fs::remove_all(dir);
}

TEST(WriteMaybeDirect, AnUnalignedBufferIsWrittenThroughTheCacheInstead) {
  const fs::path dir = common::FreshTestDir("direct");
  fs::path p = dir / "unaligned";
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  bool direct = TryDirect(fd);
  const std::string data = Pattern(3 * kDirectAlign);
  std::string holder = "x" + data;  // data at an odd address: O_DIRECT refuses it (EINVAL)
  ASSERT_TRUE(WriteMaybeDirect(fd, holder.data() + 1, data.size(), 0, &direct, p.string()).ok());
  EXPECT_FALSE(direct);  // turned off for the rest of the file (or never on, on tmpfs)
  close(fd);
  EXPECT_EQ(common::ReadTestFile(p), data);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mdb::io
