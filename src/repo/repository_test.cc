#include "repo/repository.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zstd.h>

#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/str_join.h"
#include "repo/repository_test_fixture.h"
#include "storage/fault_storage.h"
#include "storage/posix/posix_storage.h"

namespace mdb::repo {
namespace {

TEST_F(RepositoryTest, BackupRestoreByteIdenticalWithConcurrentStreams) {
  auto repo = Repository::Init(storage_.get(), Small());
  ASSERT_TRUE(repo.ok()) << repo.status();
  std::string a = Data(3 << 20, 1), b = Data(5 << 20, 2), empty;
  auto m = Backup(repo->get(), "b1", {{"a", a}, {"b", b}, {"empty", empty}});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->logical_bytes(), a.size() + b.size());
  EXPECT_GT(m->added_bytes(), 0u);
  EXPECT_LT(m->stored_bytes(), m->logical_bytes() / 2);  // compressed
  EXPECT_EQ(m->engine_metadata(), "meta");
  auto reopened = Repository::Open(storage_.get(), {});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE(Restore(reopened->get(), "b1", "a") == a);
  EXPECT_TRUE(Restore(reopened->get(), "b1", "b") == b);
  EXPECT_EQ(Restore(reopened->get(), "b1", "empty"), "");
  EXPECT_EQ(*(*reopened)->ListBackups(), std::vector<std::string>{"b1"});
}

TEST_F(RepositoryTest, JournalStreamsAreAccountedApart) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  std::string data = Data(4 << 20, 5), wal = Data(2 << 20, 6);
  auto m = Backup(repo.get(), "j", {{"shard/a", data}, {"journal/a/wal", wal}});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GT(m->journal_bytes(), 0u);
  EXPECT_LT(m->journal_bytes(), m->stored_bytes());
  auto no_journal = Backup(repo.get(), "n", {{"shard/a", data}});
  ASSERT_TRUE(no_journal.ok());
  EXPECT_EQ(no_journal->journal_bytes(), 0u);
  // Data and journal together are the whole: stored = data part + journal part.
  EXPECT_EQ(m->stored_bytes(), no_journal->stored_bytes() + m->journal_bytes());
}

TEST_F(RepositoryTest, StreamsReusedFromACommittedBackupRestoreWithoutBeingRead) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  std::string blob = Data(3 << 20, 8);
  auto first = Backup(repo.get(), "p", {{"blob", blob}});
  ASSERT_TRUE(first.ok());
  auto w = repo->StartBackup({.backup_id = "c"});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->AddStreamFrom("copy", first->streams(0)).ok());
  EXPECT_EQ((*w)->AddStreamFrom("copy", first->streams(0)).code(),
            absl::StatusCode::kInvalidArgument);  // names stay unique
  auto m = (*w)->Commit("");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->added_bytes(), 0u);
  EXPECT_EQ(m->stored_bytes(), first->stored_bytes());
  EXPECT_EQ(m->logical_bytes(), blob.size());
  ASSERT_TRUE(repo->DeleteBackup("p").ok());
  ASSERT_TRUE(repo->Gc().ok());
  EXPECT_TRUE(Restore(repo.get(), "c", "copy") == blob);  // the reuse keeps the data alive
  // Once no backup references the data, reusing the stale stream is refused.
  ASSERT_TRUE(repo->DeleteBackup("c").ok());
  ASSERT_TRUE(repo->Gc().ok());
  auto w2 = repo->StartBackup({.backup_id = "d"});
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ((*w2)->AddStreamFrom("copy", first->streams(0)).code(),
            absl::StatusCode::kFailedPrecondition);
  (*w2)->Abort();
}

TEST_F(RepositoryTest, SecondBackupStoresOnlyWhatChanged) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  std::string data = Data(8 << 20, 3);
  auto first = Backup(repo.get(), "full", {{"s", data}});
  ASSERT_TRUE(first.ok());
  auto same = Backup(repo.get(), "same", {{"s", data}});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->added_bytes(), 0u);
  EXPECT_EQ(same->stored_bytes(), first->stored_bytes());
  std::string changed = data;
  for (size_t i = 0; i < changed.size() / 100; ++i)
    changed[(i * 7919) % (changed.size() / 50)] ^= 1;
  auto incr = Backup(repo.get(), "incr", {{"s", changed}});
  ASSERT_TRUE(incr.ok());
  EXPECT_LT(incr->added_bytes(), first->added_bytes() / 5);
  EXPECT_TRUE(Restore(repo.get(), "incr", "s") == changed);
}

TEST_F(RepositoryTest, EncryptedRepositoryNeedsTheRightKey) {
  InitOptions o = Small();
  o.key = std::string(32, 'K');
  auto repo = std::move(*Repository::Init(storage_.get(), o));
  std::string secret = "the secret is " + Data(1 << 20, 4);
  ASSERT_TRUE(Backup(repo.get(), "enc", {{"s", secret}}).ok());
  EXPECT_EQ(Repository::Open(storage_.get(), {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto wrong = Repository::Open(storage_.get(), {.key = std::string(32, 'W')});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(wrong.status().message().find("wrong key"), std::string::npos);
  auto right = Repository::Open(storage_.get(), {.key = std::string(32, 'K')});
  ASSERT_TRUE(right.ok());
  EXPECT_TRUE(Restore(right->get(), "enc", "s") == secret);
  auto all = storage_->List("");
  for (const auto& o : *all) {
    EXPECT_EQ(storage_->Get(o.key)->find("the secret is"), std::string::npos) << o.key;
  }
}

TEST_F(RepositoryTest, AKeyForAPlainRepositoryIsRefusedNotIgnored) {
  ASSERT_TRUE(Repository::Init(storage_.get(), Small()).ok());
  auto keyed = Repository::Open(storage_.get(), {.key = std::string(32, 'K')});
  ASSERT_FALSE(keyed.ok());  // once ignored: backups went on in plain text
  EXPECT_EQ(keyed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(keyed.status().message().find("is not encrypted, but a key was given"),
            std::string::npos)
      << keyed.status();
  EXPECT_TRUE(Repository::Open(storage_.get(), {}).ok());
}

TEST_F(RepositoryTest, KeyFilesMustBePrivateSmallAndRegular) {
  fs::create_directories(dir_);
  auto write = [&](const std::string& name, const std::string& data, int mode) {
    std::string path = (dir_ / name).string();
    FILE* f = fopen(path.c_str(), "wb");
    fwrite(data.data(), 1, data.size(), f);
    fclose(f);
    chmod(path.c_str(), mode);
    return path;
  };
  std::string raw(32, 'k');
  EXPECT_EQ(*ReadKeyFile(write("raw", raw, 0600)), raw);
  EXPECT_EQ(*ReadKeyFile(write("hex", std::string(64, 'a') + "\n", 0400)), std::string(32, '\xaa'));
  auto open_to_all = ReadKeyFile(write("public", raw, 0644));
  EXPECT_EQ(open_to_all.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(open_to_all.status().message().find("chmod 600"), std::string::npos);
  EXPECT_EQ(ReadKeyFile(write("short", "abc", 0600)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadKeyFile(write("long", std::string(4096, 'k'), 0600)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // /dev/zero was once read until memory ran out.
  EXPECT_EQ(ReadKeyFile("/dev/zero").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadKeyFile((dir_ / "missing").string()).status().code(), absl::StatusCode::kNotFound);
}

// A manifest crafted to leave out a chunk, or to reorder two: every chunk it names is intact,
// so only the stream's size and whole-stream hash can tell. Restore refuses all three; verify
// (which reads by pack, not in stream order, and checks no hash) names the one that lost a chunk.
TEST_F(RepositoryTest, AManifestThatLostOrReorderedChunksIsRefused) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(Backup(repo.get(), "b", {{"s", Data(2 << 20, 11)}}).ok());
  Manifest good = *repo->ReadManifest("b");
  ASSERT_GT(good.streams(0).chunks_size(), 2);
  Manifest lost = good;
  lost.mutable_streams(0)->mutable_chunks()->RemoveLast();
  Manifest lost_resized = lost;
  lost_resized.mutable_streams(0)->set_size(good.streams(0).size() -
                                            good.streams(0).chunks().rbegin()->size());
  Manifest swapped = good;
  swapped.mutable_streams(0)->mutable_chunks()->SwapElements(0, 1);
  for (const Manifest* m : {&lost, &lost_resized, &swapped}) {
    io::StringSink sink;
    absl::Status st = repo->RestoreStream(*m, "s", &sink);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    EXPECT_NE(st.message().find("the manifest is damaged"), std::string::npos) << st;
  }
  // Written back as an attacker with access to a plain repository would: verify names it.
  std::string key = "manifests/b";
  std::string plain = lost.SerializeAsString();
  std::string frame(ZSTD_compressBound(plain.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), plain.data(), plain.size(), 1));
  ASSERT_TRUE(storage_->Put(key, frame).ok());
  auto report = repo->Verify({});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->damaged, std::vector<std::string>{"b"});
}

// The config is JSON in the clear; in an encrypted repository its settings are bound to the
// sealed keys, so a changed chunker or codec setting is refused instead of silently used.
TEST_F(RepositoryTest, AnEncryptedRepositorysSettingsCannotBeChanged) {
  InitOptions o = Small();
  o.key = std::string(32, 'K');
  ASSERT_TRUE(Repository::Init(storage_.get(), o).ok());
  std::string config = *storage_->Get("config");
  std::string changed = config;
  size_t at = changed.find("\"chunkMaxSize\": 262144");
  ASSERT_NE(at, std::string::npos) << config;
  changed.replace(at, 22, "\"chunkMaxSize\": 262145");
  ASSERT_TRUE(storage_->Put("config", changed).ok());
  auto opened = Repository::Open(storage_.get(), {.key = std::string(32, 'K')});
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kPermissionDenied) << opened.status();
  ASSERT_TRUE(storage_->Put("config", config).ok());
  EXPECT_TRUE(Repository::Open(storage_.get(), {.key = std::string(32, 'K')}).ok());
  // Plain repositories cannot be authenticated, but settings no writer could use are refused.
  std::string plain_dir = dir_.string() + "-plain";
  auto plain = std::move(*storage::OpenPosixStorage(plain_dir));
  ASSERT_TRUE(Repository::Init(plain.get(), Small()).ok());
  std::string pc = *plain->Get("config");
  pc.replace(pc.find("\"chunkMaxSize\": 262144"), 22, "\"chunkMaxSize\": 99999999");
  ASSERT_TRUE(plain->Put("config", pc).ok());
  EXPECT_EQ(Repository::Open(plain.get(), {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  fs::remove_all(plain_dir);
}

TEST_F(RepositoryTest, DeleteAndGcFreeExactlyTheUnsharedData) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  std::string shared = Data(2 << 20, 5), only_a = Data(2 << 20, 6);
  ASSERT_TRUE(Backup(repo.get(), "a", {{"s", shared}, {"t", only_a}}).ok());
  ASSERT_TRUE(Backup(repo.get(), "b", {{"s", shared}}).ok());
  uint64_t before = repo->Stats()->stored_bytes;
  ASSERT_TRUE(repo->DeleteBackup("a").ok());
  EXPECT_EQ(repo->DeleteBackup("a").code(), absl::StatusCode::kNotFound);
  auto gc = repo->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_GT(gc->bytes_freed, 0);
  EXPECT_GT(gc->packs_repacked, 0);  // the streams of "a" shared packs
  EXPECT_LT(repo->Stats()->stored_bytes, before);
  EXPECT_TRUE(Restore(repo.get(), "b", "s") == shared);
  auto verify = repo->Verify({});
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->damaged.empty());
  ASSERT_TRUE(repo->DeleteBackup("b").ok());
  ASSERT_TRUE(repo->Gc().ok());
  EXPECT_EQ(repo->Stats()->packs, 0);
}

TEST_F(RepositoryTest, VerifyNamesTheBackupsADamagedPackBreaks) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(Backup(repo.get(), "x", {{"s", Data(3 << 20, 7)}}).ok());
  ASSERT_TRUE(Backup(repo.get(), "y", {{"s", Data(1 << 20, 8)}}).ok());
  auto report = repo->Verify({});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->damaged.empty());
  EXPECT_EQ(report->bytes_checked, (3u << 20) + (1u << 20));
  // Flip one byte in the middle of one of x's packs.
  auto m = repo->ReadManifest("x");
  auto packs = storage_->List("packs/");
  std::string victim;
  for (const auto& p : *packs) {
    auto body = *storage_->Get(p.key);
    body[body.size() / 2] ^= 0x55;
    ASSERT_TRUE(storage_->Put(p.key, body).ok());
    victim = p.key;
    break;
  }
  report = repo->Verify({});
  ASSERT_TRUE(report.ok());
  ASSERT_FALSE(report->damaged.empty());
  EXPECT_FALSE(report->problems.empty());
  io::StringSink sink;
  absl::Status st = repo->RestoreStream(*repo->ReadManifest(report->damaged[0]), "s", &sink);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
}

// A process whose own commit is the only index object it knows of still notices a GC elsewhere
// that replaced it (a fresh repository: no other index object was ever read).
TEST_F(RepositoryTest, AGcElsewhereOfThisProcesssOwnBackupIsNoticed) {
  auto a = std::move(*Repository::Init(storage_.get(), Small()));
  auto b = std::move(*Repository::Open(storage_.get(), {}));
  std::string data(2 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 11);
  ASSERT_TRUE(Backup(a.get(), "x", {{"s", data}}).ok());
  ASSERT_TRUE(b->DeleteBackup("x").ok());
  ASSERT_TRUE(b->Gc().ok());
  ASSERT_TRUE(Backup(a.get(), "y", {{"s", data}}).ok());
  EXPECT_TRUE(Restore(b.get(), "y", "s") == data);
}

// Two processes on one repository (instances sharing a bucket): each reads the index when it
// opens it, and the other commits and collects afterwards. Restores see what the other
// committed, and a backup never deduplicates against a chunk the other's GC removed.
TEST_F(RepositoryTest, AnotherProcessesCommitsAndGcAreSeen) {
  auto a = std::move(*Repository::Init(storage_.get(), Small()));
  auto b = std::move(*Repository::Open(storage_.get(), {}));
  std::string shared(2 << 20, '\0'), other(2 << 20, '\0');
  for (size_t i = 0; i < shared.size(); ++i) {
    shared[i] = static_cast<char>((i * 2654435761u) >> 11);
    other[i] = static_cast<char>((i * 40503u + 7) >> 5);
  }
  ASSERT_TRUE(Backup(b.get(), "by-b", {{"s", shared}}).ok());
  EXPECT_TRUE(Restore(a.get(), "by-b", "s") == shared);  // a opened before b committed
  ASSERT_TRUE(Backup(a.get(), "keep", {{"s", other}}).ok());
  // b deletes its backup and collects: the shared chunks are gone from the store. a still has
  // them in its index from the restore above; its next backup of the same bytes must store them
  // again rather than refer to what no longer exists.
  ASSERT_TRUE(b->DeleteBackup("by-b").ok());
  ASSERT_TRUE(b->Gc().ok());
  ASSERT_TRUE(Backup(a.get(), "again", {{"s", shared}}).ok());
  EXPECT_TRUE(Restore(b.get(), "again", "s") == shared);
  EXPECT_TRUE(Restore(a.get(), "again", "s") == shared);
  EXPECT_TRUE(Restore(a.get(), "keep", "s") == other);
  auto verify = a->Verify({});
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_TRUE(verify->damaged.empty()) << absl::StrJoin(verify->problems, "\n");
}

TEST_F(RepositoryTest, InitRefusesAnExistingRepositoryAndOpenAMissingOne) {
  EXPECT_EQ(Repository::Open(storage_.get(), {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Repository::Init(storage_.get(), Small()).ok());
  EXPECT_EQ(Repository::Init(storage_.get(), Small()).status().code(),
            absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace mdb::repo
