#include "storage/posix/posix_storage.h"

#include <sys/stat.h>

#include <filesystem>

#include "storage/conformance_test.h"

namespace mdb::storage {
namespace {

std::unique_ptr<Storage> FreshPosix() {
  static int n = 0;
  auto dir = std::filesystem::temp_directory_path() /
             ("posix_storage_test_" + std::to_string(getpid()) + "_" + std::to_string(n++));
  std::filesystem::remove_all(dir);
  return std::move(*OpenPosixStorage(dir.string()));
}

INSTANTIATE_TEST_SUITE_P(Posix, StorageConformance, ::testing::Values(StorageFactory(FreshPosix)));

TEST(PosixStorage, AWriterDroppedWithoutCommitLeavesNoFile) {
  auto dir = std::filesystem::temp_directory_path() / ("posix_drop_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto s = OpenPosixStorage(dir.string());
  ASSERT_TRUE(s.ok());
  {
    auto w = (*s)->StartPut("packs/ab/obj", 4 << 20);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(std::string(3 << 20, 'p')).ok());
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "packs" / "ab"),
                            std::filesystem::directory_iterator()),
              1);  // its temporary file, while it is written
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "packs" / "ab"),
                          std::filesystem::directory_iterator()),
            0);
  std::filesystem::remove_all(dir);
}

TEST(PosixStorage, LeftoverTemporaryFilesAreNotListed) {
  auto dir = std::filesystem::temp_directory_path() / ("posix_tmp_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto s = OpenPosixStorage(dir.string());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Put("k/obj", "x").ok());
  std::filesystem::create_directories(dir / "k");
  FILE* f = fopen((dir / "k" / "obj2.tmp-crashed").c_str(), "w");
  fclose(f);
  EXPECT_EQ((*s)->List("k/")->size(), 1u);
  std::filesystem::remove_all(dir);
}

// A repository is for its owner only, whatever the umask of the process that writes it.
TEST(PosixStorage, DirectoriesAndObjectsAreForTheOwnerOnly) {
  auto dir = std::filesystem::temp_directory_path() / ("posix_modes_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  mode_t old = umask(0);
  auto s = OpenPosixStorage((dir / "repo").string());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Put("packs/ab/obj", "x").ok());
  umask(old);
  auto mode = [](const std::filesystem::path& p) {
    struct stat st {};
    EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 0777;
  };
  EXPECT_EQ(mode(dir), 0700u);
  EXPECT_EQ(mode(dir / "repo"), 0700u);
  EXPECT_EQ(mode(dir / "repo/packs"), 0700u);
  EXPECT_EQ(mode(dir / "repo/packs/ab"), 0700u);
  EXPECT_EQ(mode(dir / "repo/packs/ab/obj"), 0600u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::storage
