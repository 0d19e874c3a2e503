// What failed storage writes leave in a repository: nothing visible, nothing half-written.
#include <atomic>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "mdb_backup/v1/repo.pb.h"
#include "repo/codec.h"
#include "repo/repository_test_fixture.h"
#include "storage/fault_storage.h"

namespace mdb::repo {
namespace {

// Fails the `n`th `op` on a pack; `calls` counts those ops.
storage::FaultStorage::Rule FailNthOnPacks(storage::FaultOp op, int n, int* calls) {
  return [=](storage::FaultOp o, const std::string& key, int) {
    storage::Fault f;
    f.fail = o == op && key.rfind("packs/", 0) == 0 && ++*calls == n;
    return f;
  };
}

TEST_F(RepositoryTest, FailedUploadLeavesNothingVisibleAndGcReclaimsIt) {
  auto inner = std::move(*Repository::Init(storage_.get(), Small()));
  inner.reset();
  int puts = 0;
  storage::FaultStorage faulty(storage_.get(), FailNthOnPacks(storage::FaultOp::kPut, 2, &puts));
  auto repo = std::move(*Repository::Open(&faulty, {}));
  auto m = Backup(repo.get(), "broken", {{"s", Data(12 << 20, 9)}});
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(repo->ListBackups()->empty());
  EXPECT_GT(storage_->List("packs/")->size(), 0u);  // uploaded before the failure
  auto gc = repo->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(storage_->List("packs/")->size(), 0u);
  EXPECT_TRUE(storage_->List("locks/")->empty());
}

// Bit rot in one manifest: GC cannot tell which chunks that backup uses, so it frees nothing and
// says which backup and what to do; that backup can be deleted (before, the delete read the
// manifest and failed too: no space was freed anywhere in the repository, by any tool).
TEST_F(RepositoryTest, ADamagedManifestStopsGcUntilItsBackupIsDeleted) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(Backup(repo.get(), "kept", {{"s", Data(1 << 20, 1)}}).ok());
  ASSERT_TRUE(Backup(repo.get(), "rotten", {{"s", Data(1 << 20, 2)}}).ok());
  ASSERT_TRUE(Backup(repo.get(), "gone", {{"s", Data(1 << 20, 3)}}).ok());
  ASSERT_TRUE(repo->DeleteBackup("gone").ok());
  std::string bytes = *storage_->Get("manifests/rotten");
  bytes[bytes.size() / 2] ^= 0x20;
  ASSERT_TRUE(storage_->Put("manifests/rotten", bytes).ok());
  const size_t packs = storage_->List("packs/")->size();
  auto gc = repo->Gc();
  EXPECT_TRUE(absl::IsDataLoss(gc.status())) << gc.status();
  EXPECT_TRUE(absl::StrContains(gc.status().message(), "backup 'rotten' uses")) << gc.status();
  EXPECT_EQ(storage_->List("packs/")->size(), packs);  // nothing deleted
  ASSERT_TRUE(repo->DeleteBackup("rotten").ok());
  gc = repo->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_GT(gc->packs_deleted, 0);
  EXPECT_EQ(Restore(repo.get(), "kept", "s"), Data(1 << 20, 1));
}

// A backup deleted while GC reads the manifests (a retention pass on another instance): its chunks
// are garbage. Before, GC failed NOT_FOUND naming it, and so did the operation that ran it.
TEST_F(RepositoryTest, AManifestDeletedWhileGcReadsThemIsGarbage) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(Backup(repo.get(), "kept", {{"s", Data(1 << 20, 1)}}).ok());
  ASSERT_TRUE(Backup(repo.get(), "deleted", {{"s", Data(1 << 20, 2)}}).ok());
  storage::FaultStorage faulty(storage_.get(),
                               [&](storage::FaultOp op, const std::string& key, int) {
                                 if (op == storage::FaultOp::kGet && key == "manifests/deleted") {
                                   (void)storage_->Delete(key);  // just before GC reads it
                                 }
                                 return storage::Fault{};
                               });
  auto gc = std::move(*Repository::Open(&faulty, {}))->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->backups, 1);
  EXPECT_GT(gc->packs_deleted, 0);
  EXPECT_EQ(Restore(repo.get(), "kept", "s"), Data(1 << 20, 1));
}

// A restore through a process that has not read the backup's index object yet, while the store
// refuses the listing of the index: an outage, UNAVAILABLE. Before, it was reported as a chunk
// missing from the index (DATA_LOSS), and a drill recorded a healthy backup as failed.
TEST_F(RepositoryTest, AnIndexTheStoreCannotListIsNoDamage) {
  auto writer = std::move(*Repository::Init(storage_.get(), Small()));
  std::atomic<bool> refuse{false};
  storage::FaultStorage faulty(
      storage_.get(), [&](storage::FaultOp op, const std::string& key, int) {
        return storage::Fault{.fail = refuse && op == storage::FaultOp::kList && key == "index/",
                              .status = absl::UnavailableError("throttled")};
      });
  auto reader = std::move(*Repository::Open(&faulty, {}));  // before the backup
  ASSERT_TRUE(Backup(writer.get(), "b", {{"s", Data(1 << 20, 4)}}).ok());
  auto m = reader->ReadManifest("b");
  ASSERT_TRUE(m.ok()) << m.status();
  refuse = true;
  io::StringSink sink;
  absl::Status st = reader->RestoreStream(*m, "s", &sink);
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
  refuse = false;
  EXPECT_EQ(Restore(reader.get(), "b", "s"), Data(1 << 20, 4));
}

// A verify beside the service's deletes and GC: a backup deleted after it was listed, one deleted
// (and its pack collected) after its manifest was read, and a pack repacked (its live chunks moved
// to a new pack) after the index was read, are no damage. Before, all three were reported damaged
// (exit code 3, which operators alert on).
TEST_F(RepositoryTest, AVerifyBesideADeleteAndAGcFindsNoDamage) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(
      Backup(repo.get(), "a", {{"s1", Data(200 << 10, 1)}, {"s2", Data(200 << 10, 2)}}).ok());
  ASSERT_EQ(storage_->List("packs/")->size(), 1u);
  ASSERT_TRUE(Backup(repo.get(), "b", {{"s", Data(200 << 10, 1)}}).ok());  // all in a's pack
  ASSERT_TRUE(Backup(repo.get(), "c", {{"s", Data(100 << 10, 3)}}).ok());
  ASSERT_TRUE(Backup(repo.get(), "d", {{"s", Data(100 << 10, 4)}}).ok());
  ASSERT_TRUE(repo->DeleteBackup("a").ok());  // half of the shared pack is dead: GC repacks it
  auto gc_repo = std::move(*Repository::Open(storage_.get(), {}));
  absl::StatusOr<GcReport> gc = absl::UnknownError("not run");
  std::once_flag once;
  storage::FaultStorage faulty(storage_.get(),
                               [&](storage::FaultOp op, const std::string& key, int) {
                                 if (op == storage::FaultOp::kGet && key == "manifests/c")
                                   (void)storage_->Delete(key);
                                 if (op == storage::FaultOp::kGet && key.rfind("packs/", 0) == 0) {
                                   std::call_once(once, [&] {  // every pack read waits for this
                                     (void)storage_->Delete("manifests/d");
                                     gc = gc_repo->Gc();
                                   });
                                 }
                                 return storage::Fault{};
                               });
  auto verifier = std::move(*Repository::Open(&faulty, {}));
  auto report = verifier->Verify({});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->packs_repacked, 1);
  EXPECT_TRUE(report->damaged.empty()) << absl::StrJoin(report->problems, "\n");
  EXPECT_TRUE(report->problems.empty()) << absl::StrJoin(report->problems, "\n");
  EXPECT_EQ(report->backups_checked, 2);  // b, and d whose manifest was read
  EXPECT_EQ(report->bytes_checked, 200u << 10);
  // A pack gone while its backup stays is damage still.
  auto left = storage_->List("packs/");
  ASSERT_TRUE(left.ok() && !left->empty());
  for (const auto& p : *left) ASSERT_TRUE(storage_->Delete(p.key).ok());
  report = verifier->Verify({});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->damaged, std::vector<std::string>{"b"});
}

TEST_F(RepositoryTest, AFailedWriteInsideAPackPublishesNoPartOfIt) {
  // Packs are written as they fill: a write that fails mid-pack (a full disk) fails the backup,
  // publishes no pack with a hole in it, and leaves no temporary file behind.
  auto inner = std::move(*Repository::Init(storage_.get(), Small()));
  inner.reset();
  int appends = 0;
  storage::FaultStorage faulty(storage_.get(),
                               FailNthOnPacks(storage::FaultOp::kAppend, 3, &appends));
  auto repo = std::move(*Repository::Open(&faulty, {}));
  auto m = Backup(repo.get(), "broken", {{"s", Data(12 << 20, 9)}});
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(appends, 3);
  EXPECT_TRUE(repo->ListBackups()->empty());
  // Whatever was published is whole (it ends with its end mark) and no temporary file is left.
  auto published = storage_->List("packs/");  // held: a range over *List() would dangle
  ASSERT_TRUE(published.ok()) << published.status();
  for (const auto& p : *published) {
    auto body = storage_->Get(p.key);
    ASSERT_TRUE(body.ok());
    ASSERT_GE(body->size(), 8u);
    EXPECT_EQ(body->substr(body->size() - 8), "MDBPEND1") << p.key;
  }
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
}

// A plain repository with one backup "x" (stream "s") whose first index entry was changed by
// `plant`, as someone who can write the bucket would; opened again afterwards.
class PlantedIndexTest : public RepositoryTest {
 protected:
  std::unique_ptr<Repository> WithPlantedIndexEntry(
      const std::function<void(mdb_backup::v1::ChunkLocation*)>& plant) {
    auto repo = std::move(*Repository::Init(storage_.get(), Small()));
    EXPECT_TRUE(Backup(repo.get(), "x", {{"s", Data(3 << 20, 4)}}).ok());
    repo.reset();
    auto indexes = storage_->List("index/");
    EXPECT_FALSE(indexes->empty());
    const std::string key = indexes->front().key;
    Codec plain(Keys{}, 1);
    mdb_backup::v1::IndexFile file;
    EXPECT_TRUE(file.ParseFromString(*plain.Decode(*storage_->Get(key), key)));
    EXPECT_GT(file.packs_size(), 0);
    plant(file.mutable_packs(0)->mutable_chunks(0));
    EXPECT_TRUE(storage_->Put(key, *plain.Encode(file.SerializeAsString(), key)).ok());
    auto opened = Repository::Open(storage_.get(), {});
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? std::move(*opened) : nullptr;
  }
};

// Someone who can write to a plain repository plants an index entry whose offset wraps when its
// size is added. Before, verify's (and GC's repack's) bounds check passed and `substr` threw:
// std::terminate took the process down. Now the chunk is outside its pack, and its backup damaged.
TEST_F(PlantedIndexTest, AnIndexEntryPastAnyPackIsDamageNotACrash) {
  auto repo = WithPlantedIndexEntry([](mdb_backup::v1::ChunkLocation* c) {
    c->set_offset(std::numeric_limits<uint64_t>::max());
  });
  ASSERT_NE(repo, nullptr);
  auto verify = repo->Verify({});
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_EQ(verify->damaged, std::vector<std::string>{"x"});
  EXPECT_TRUE(absl::StrContains(absl::StrJoin(verify->problems, "\n"), "outside the pack"))
      << absl::StrJoin(verify->problems, "\n");
  io::StringSink sink;
  EXPECT_FALSE(repo->RestoreStream(*repo->ReadManifest("x"), "s", &sink).ok());
}

// An index entry that says its chunk is larger than any chunk can be is damage, found by verify
// and refused by a restore before a buffer of that size is allocated (uint32 sizes: a planted
// entry could ask for 4 GiB per chunk, on every restore thread).
TEST_F(PlantedIndexTest, AnIndexEntryLargerThanAnyChunkIsDamage) {
  auto repo = WithPlantedIndexEntry(
      [](mdb_backup::v1::ChunkLocation* c) { c->set_size(Repository::kLargestChunk + 1); });
  ASSERT_NE(repo, nullptr);
  auto verify = repo->Verify({});
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_EQ(verify->damaged, std::vector<std::string>{"x"});
  const std::string says = "no chunk holds more than 67108864";
  EXPECT_TRUE(absl::StrContains(absl::StrJoin(verify->problems, "\n"), says))
      << absl::StrJoin(verify->problems, "\n");
  io::StringSink sink;
  absl::Status restored = repo->RestoreStream(*repo->ReadManifest("x"), "s", &sink);
  EXPECT_EQ(restored.code(), absl::StatusCode::kDataLoss) << restored;
  EXPECT_TRUE(absl::StrContains(restored.message(), says)) << restored;
}

}  // namespace
}  // namespace mdb::repo
