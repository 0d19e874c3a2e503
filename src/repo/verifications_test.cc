// A backup's drill result kept beside its manifest: written only for a backup that exists, gone
// with it, swept by the GC when its delete stopped half-way, and sealed to its place.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/test_dir.h"
#include "repo/repository.h"
#include "storage/posix/posix_storage.h"

namespace mdb::repo {
namespace {

namespace fs = std::filesystem;

class VerificationsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = common::FreshTestDir("verifications_test");
    storage_ = std::move(*storage::OpenPosixStorage(dir_.string()));
    InitOptions o;
    if (GetParam()) o.key = std::string(32, 'K');
    repo_ = std::move(*Repository::Init(storage_.get(), o));
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Backup(const std::string& id) {
    auto w = std::move(*repo_->StartBackup({.backup_id = id, .engine = "test"}));
    io::StringSource src("data of " + id);
    ASSERT_TRUE(w->AddStream("s", &src).ok());
    ASSERT_TRUE(w->Commit("meta").ok());
  }

  fs::path dir_;
  std::unique_ptr<storage::Storage> storage_;
  std::unique_ptr<Repository> repo_;
};

TEST_P(VerificationsTest, KeptBesideTheManifestAndGoneWithIt) {
  Backup("a");
  EXPECT_EQ(repo_->ReadVerification("a").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(repo_->PutVerification("a", "first drill").ok());
  ASSERT_TRUE(repo_->PutVerification("a", "second drill").ok());  // the newest replaces
  EXPECT_EQ(*repo_->ReadVerification("a"), "second drill");
  // Another process opening the repository reads it too.
  OpenOptions open;
  if (GetParam()) open.key = std::string(32, 'K');
  auto other = Repository::Open(storage_.get(), open);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*(*other)->ReadVerification("a"), "second drill");
  // None for a backup that is not there.
  EXPECT_EQ(repo_->PutVerification("nope", "x").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(storage_->Stat("verifications/nope").ok());
  ASSERT_TRUE(repo_->DeleteBackup("a").ok());
  EXPECT_FALSE(storage_->Stat("verifications/a").ok());
  EXPECT_EQ(repo_->ReadVerification("a").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(VerificationsTest, TheGcSweepsThoseWhoseBackupIsGone) {
  Backup("kept");
  Backup("gone");
  ASSERT_TRUE(repo_->PutVerification("kept", "k").ok());
  ASSERT_TRUE(repo_->PutVerification("gone", "g").ok());
  // A delete that stopped after the manifest (a crash): the verification stays behind.
  ASSERT_TRUE(storage_->Delete("manifests/gone").ok());
  ASSERT_TRUE(repo_->Gc().ok());
  EXPECT_FALSE(storage_->Stat("verifications/gone").ok());
  EXPECT_EQ(*repo_->ReadVerification("kept"), "k");
}

TEST_P(VerificationsTest, AMovedVerificationIsRefusedWhenEncrypted) {
  Backup("a");
  Backup("b");
  ASSERT_TRUE(repo_->PutVerification("a", "passed").ok());
  // Someone who can write to the bucket copies a's result onto b.
  ASSERT_TRUE(storage_->Put("verifications/b", *storage_->Get("verifications/a")).ok());
  auto read = repo_->ReadVerification("b");
  if (GetParam()) {
    EXPECT_FALSE(read.ok());  // sealed to its key
  } else {
    EXPECT_TRUE(read.ok());  // a plain repository trusts whoever can write to it
  }
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, VerificationsTest, ::testing::Bool());

}  // namespace
}  // namespace mdb::repo
