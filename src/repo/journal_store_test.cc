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

TEST_P(JournalStoreTest, APlantedObjectNeverSizesAnAllocation) {
  JournalStore& j = repo_->journal();
  auto a = *j.Put("c", "s", "a", 0, 10, std::string(5000, 'a'));
  // A bucket writer plants a frame that claims 16 GiB under a's key (a few bytes in the store):
  // refused from the frame header, nothing that size allocated.
  const unsigned char claim[] = {0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0};
  std::string planted(reinterpret_cast<const char*>(claim), sizeof(claim));
  if (!GetParam()) {  // an encrypted store's seal refuses it before any frame is read
    ASSERT_TRUE(storage_->Put(a.key, planted).ok());
    auto listed = (*j.List("c"))[0];
    auto got = j.Get(listed);
    EXPECT_TRUE(absl::IsDataLoss(got.status())) << got.status();
    EXPECT_NE(got.status().message().find("claims"), std::string::npos) << got.status();
  }
  // A listing that reports an object larger than any piece: not read at all.
  JournalPieceInfo huge = a;
  huge.stored_bytes = uint64_t{8} << 30;
  EXPECT_TRUE(absl::IsDataLoss(j.Get(huge).status()));
  // One larger than listed: only the listed bytes are read (the piece itself, when it is its
  // prefix; else they fail the checksum).
  auto b = *j.Put("c", "s", "b", 10, 20, std::string(5000, 'b'));
  ASSERT_TRUE(storage_->Put(b.key, *storage_->Get(b.key) + std::string(1 << 20, 'x')).ok());
  EXPECT_EQ(*j.Get(b), std::string(5000, 'b'));
  ASSERT_TRUE(storage_->Put(b.key, std::string(1 << 20, 'x')).ok());
  EXPECT_TRUE(absl::IsDataLoss(j.Get(b).status()));
  // Shorter than listed: DataLoss, not OutOfRange.
  ASSERT_TRUE(storage_->Put(b.key, "x").ok());
  EXPECT_TRUE(absl::IsDataLoss(j.Get(b).status())) << j.Get(b).status();
  // Writers are bounded the same way (the size is checked before a byte is read, so the view
  // may claim more than its buffer holds).
  const char one = 'x';
  EXPECT_TRUE(absl::IsInvalidArgument(
      j.Put("c", "s", "big", 0, 1, std::string_view(&one, kMaxJournalPieceBytes + 1)).status()));
}

TEST_P(JournalStoreTest, OnePieceHasOneKey) {
  JournalStore& j = repo_->journal();
  auto a = *j.Put("c", "s", "a", 0x10, 0x20, "data");
  // The same positions spelled another way are not a piece: a bucket writer cannot add a second
  // copy of a segment that planning would take for another one.
  for (const std::string& start : {"0X00000000000010", "0x00000000000010", "000000000000001A"}) {
    std::string key = a.key;
    key.replace(key.rfind('/') + 1, 16, start);
    absl::Status put = storage_->Put(key, *storage_->Get(a.key));
    ASSERT_TRUE(put.ok()) << key << ": " << put;
  }
  auto list = j.List("c");
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].key, a.key);
  // Ids that would make keys longer than storage takes are refused when written.
  EXPECT_TRUE(absl::IsInvalidArgument(
      j.Put(std::string(50, 'c'), std::string(81, 's'), "a", 0, 1, "x").status()));
  auto longest =
      j.Put(std::string(50, 'c'), std::string(80, 's'), std::string(180, 'n'), 0, 1, "x");
  EXPECT_TRUE(longest.ok()) << longest.status();
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, JournalStoreTest, ::testing::Bool());

}  // namespace
}  // namespace mdb::repo
