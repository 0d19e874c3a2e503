// The disaster-recovery restore into a directory, with manifests as an attacker with write access
// to the repository could craft them.
#include "repo/restore_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "common/test_dir.h"
#include "storage/posix/posix_storage.h"

namespace mdb::repo {
namespace {

namespace fs = std::filesystem;

class RestoreDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = common::FreshTestDir("restore_dir");
    fs::create_directories(base_ / "elsewhere");
    storage_ = std::move(*storage::OpenPosixStorage((base_ / "repo").string()));
    repo_ = std::move(*Repository::Init(storage_.get(), {}));
    auto w = std::move(*repo_->StartBackup({.backup_id = "b1", .engine = "test"}));
    for (const auto& [name, data] : streams_) {
      io::StringSource src(data);
      ASSERT_TRUE(w->AddStream(name, &src).ok());
    }
    manifest_ = std::move(*w->Commit(""));
  }
  void TearDown() override { fs::remove_all(base_); }

  // The names the service gives streams: shard directories, journal files.
  std::vector<std::pair<std::string, std::string>> streams_ = {
      {"shard1/base.tar", std::string(100000, 'a')},
      {"journal/shard1/000000010000000000000003", std::string(5000, 'w')},
      {"rdb", "REDIS0011"}};
  fs::path base_;
  std::unique_ptr<storage::Storage> storage_;
  std::unique_ptr<Repository> repo_;
  Manifest manifest_;
};

TEST_F(RestoreDirTest, StreamNamesWithSlashesBecomeDirectories) {
  auto r = RestoreToDirectory(repo_.get(), manifest_, (base_ / "out").string());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->streams, 3);
  for (const auto& [name, data] : streams_)
    EXPECT_EQ(common::ReadTestFile(base_ / "out" / name), data) << name;
}

TEST_F(RestoreDirTest, CraftedNamesAreRefusedBeforeAnythingIsWritten) {
  for (std::string bad :
       std::vector<std::string>{"../escaped", "/tmp/abs", "shard1/../../escaped", "a//b", ""}) {
    Manifest m = manifest_;
    m.mutable_streams(2)->set_name(bad);
    auto r = RestoreToDirectory(repo_.get(), m, (base_ / "out").string());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
    EXPECT_FALSE(fs::exists(base_ / "out")) << bad;  // nothing left behind, not even the dir
    EXPECT_FALSE(fs::exists(base_ / "escaped"));
  }
}

TEST_F(RestoreDirTest, LinksInTheTargetAreNotFollowed) {
  fs::create_directories(base_ / "out");
  fs::create_directory_symlink(base_ / "elsewhere", base_ / "out" / "shard1");
  auto r = RestoreToDirectory(repo_.get(), manifest_, (base_ / "out").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "symbolic link")) << r.status();
  EXPECT_TRUE(fs::is_empty(base_ / "elsewhere"));
}

TEST_F(RestoreDirTest, ExistingFilesAreNeverOverwrittenAndNothingIsLeftBehind) {
  fs::create_directories(base_ / "out");
  std::ofstream(base_ / "out" / "rdb") << "precious";
  auto r = RestoreToDirectory(repo_.get(), manifest_, (base_ / "out").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_EQ(common::ReadTestFile(base_ / "out" / "rdb"), "precious");
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(base_ / "out")) left.push_back(e.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{"rdb"});  // the streams written first are gone again
}

TEST_F(RestoreDirTest, AFailedStreamRemovesWhatWasWritten) {
  Manifest m = manifest_;
  // The journal stream names a chunk the repository does not have.
  auto* chunk = m.mutable_streams(1)->mutable_chunks(0);
  std::string id = chunk->id();
  id[0] = static_cast<char>(id[0] ^ 1);
  chunk->set_id(id);
  auto r = RestoreToDirectory(repo_.get(), m, (base_ / "out").string());
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(fs::exists(base_ / "out"));
}

}  // namespace
}  // namespace mdb::repo
