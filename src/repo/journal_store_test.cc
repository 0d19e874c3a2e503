// The journal store over a real directory, through the repository that hands it out: what a
// listing tells, what a damaged or swapped piece does, and that GC leaves pieces alone.
#include "repo/journal_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/test_dir.h"
#include "repo/repository.h"
#include "storage/posix/posix_storage.h"

namespace mdb::repo {
namespace {

namespace fs = std::filesystem;

class JournalStoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = common::FreshTestDir("journal_store");
    storage_ = std::move(*storage::OpenPosixStorage(dir_.string()));
    InitOptions init;
    if (GetParam()) init.key = std::string(32, 'k');  // encrypted
    repo_ = std::move(*Repository::Init(storage_.get(), init));
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::unique_ptr<storage::Storage> storage_;
  std::unique_ptr<Repository> repo_;
};

TEST_P(JournalStoreTest, AListingIsTheIndexAndPiecesComeBackIntact) {
  JournalStore& j = repo_->journal();
  // Ids and shard names with characters keys may not hold.
  std::string seg1(1 << 20, 'w'), seg2 = "second segment";
  auto p1 = j.Put("cluster/1 x", "seg 0", "sys.000000010000000000000001", 0, 1 << 24, seg1);
  ASSERT_TRUE(p1.ok()) << p1.status();
  ASSERT_TRUE(
      j.Put("cluster/1 x", "seg 0", "sys.000000010000000000000002", 1 << 24, 2 << 24, seg2).ok());
  ASSERT_TRUE(j.Put("other", "seg 0", "sys.000000010000000000000001", 0, 1 << 24, "x").ok());
  EXPECT_TRUE(absl::IsAlreadyExists(
      j.Put("cluster/1 x", "seg 0", "sys.000000010000000000000001", 0, 1 << 24, seg1).status()));

  auto list = j.List("cluster/1 x");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].shard, "seg 0");
  EXPECT_EQ((*list)[0].name, "sys.000000010000000000000001");
  EXPECT_EQ((*list)[1].start, 1u << 24);
  EXPECT_EQ((*list)[1].end, 2u << 24);
  EXPECT_LT((*list)[0].stored_bytes, seg1.size());  // compressed
  EXPECT_EQ((*list)[0].stored_bytes, p1->stored_bytes);
  EXPECT_EQ(*j.Get((*list)[0]), seg1);
  EXPECT_EQ(*j.Get((*list)[1]), seg2);

  // GC reads no piece and frees none.
  ASSERT_TRUE(repo_->Gc().ok());
  EXPECT_EQ(j.List("cluster/1 x")->size(), 2u);

  ASSERT_TRUE(j.Delete((*list)[0]).ok());
  EXPECT_EQ(j.List("cluster/1 x")->size(), 1u);
  EXPECT_TRUE(absl::IsInvalidArgument(j.Delete({.key = "packs/x"})));
}

TEST_P(JournalStoreTest, ADamagedOrSwappedPieceIsDataLoss) {
  JournalStore& j = repo_->journal();
  auto a = *j.Put("c", "s", "a", 0, 10, std::string(5000, 'a'));
  auto b = *j.Put("c", "s", "b", 10, 20, std::string(5000, 'b'));
  // Someone who can write to the bucket puts b's object in a's place...
  ASSERT_TRUE(storage_->Put(a.key, *storage_->Get(b.key)).ok());
  EXPECT_TRUE(absl::IsDataLoss(j.Get(a).status())) << j.Get(a).status();
  // ...or flips a byte of b.
  std::string blob = *storage_->Get(b.key);
  blob[blob.size() / 2] ^= 1;
  ASSERT_TRUE(storage_->Put(b.key, blob).ok());
  EXPECT_TRUE(absl::IsDataLoss(j.Get(b).status())) << j.Get(b).status();
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, JournalStoreTest, ::testing::Bool());

}  // namespace
}  // namespace mdb::repo
