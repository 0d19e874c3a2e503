// The format's versions and per-stream choices: manifests of format 1 read beside format 2,
// newer ones refused; streams cut at their producer's marks.
#include <gtest/gtest.h>
#include <zstd.h>

#include <string>
#include <thread>
#include <vector>

#include "io/pipe.h"
#include "repo/repository.h"
#include "repo/repository_test_fixture.h"

namespace mdb::repo {
namespace {

// A stream cut at its producer's marks: a chunk ends at the first kMay mark once it holds
// min_size bytes (16 KiB here), at every kMust mark, and at max_size (256 KiB) without one; no
// content scan. Pieces after a grown first one are the same chunks again: only the first is
// stored anew.
TEST_F(RepositoryTest, AStreamCutAtMarksKeepsItsPiecesAsChunks) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  auto backup = [&](const std::string& id, size_t first) -> absl::StatusOr<Manifest> {
    auto w = repo->StartBackup({.backup_id = id, .engine = "test"});
    if (!w.ok()) return w.status();
    io::Pipe pipe(1 << 20);
    std::string all;
    std::thread producer([&] {
      std::vector<std::string> pieces = {Data(first, 1)};
      for (uint32_t i = 0; i < 6; ++i) pieces.push_back(Data(40 << 10, 100 + i));
      pieces.push_back(Data(100, 8));        // a header: a chunk must end after it
      pieces.push_back(Data(600 << 10, 7));  // no mark inside: cut at max_size
      for (size_t i = 0; i < pieces.size(); ++i) {
        pipe.Mark(i == pieces.size() - 1 ? io::Boundary::kMust : io::Boundary::kMay);
        EXPECT_TRUE(pipe.Write(pieces[i]).ok());
        all += pieces[i];
      }
      pipe.Finish();  // on every path: a failed write must not leave the reader waiting
    });
    absl::Status st = (*w)->AddStream("s", &pipe, Chunking::kAtMarks);
    if (!st.ok()) pipe.Abandon();
    producer.join();
    if (!st.ok()) return st;
    auto m = (*w)->Commit("meta");
    if (m.ok()) EXPECT_EQ(Restore(repo.get(), id, "s"), all);
    return m;
  };
  auto first = backup("a", 1 << 10);
  ASSERT_TRUE(first.ok()) << first.status();
  const auto& s = first->streams(0);
  EXPECT_EQ(s.chunking(), mdb_backup::v1::CHUNKING_AT_MARKS);
  std::vector<uint32_t> sizes;
  for (const auto& c : s.chunks()) sizes.push_back(c.size());
  const uint32_t k40 = 40 << 10, k256 = 256 << 10;
  EXPECT_EQ(sizes, (std::vector<uint32_t>{(1 << 10) + k40, k40, k40, k40, k40, k40, 100, k256, k256,
                                          (600 << 10) - 2 * k256}));
  auto second = backup("b", 2 << 10);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->streams(0).chunks_size(), s.chunks_size());
  for (int i = 1; i < s.chunks_size(); ++i) {
    EXPECT_EQ(second->streams(0).chunks(i).id(), s.chunks(i).id()) << i;
  }
  EXPECT_NE(second->streams(0).chunks(0).id(), s.chunks(0).id());
  EXPECT_LT(second->added_bytes(), first->added_bytes() / 5);
  // Reused as it is, it is still a stream cut at marks.
  auto w = repo->StartBackup({.backup_id = "r", .engine = "test"});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->AddStreamFrom("s", s).ok());
  auto reused = (*w)->Commit("meta");
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_EQ(reused->streams(0).chunking(), mdb_backup::v1::CHUNKING_AT_MARKS);
  // A content-defined stream says so.
  auto plain = Backup(repo.get(), "c", {{"s", Data(100 << 10, 3)}});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->streams(0).chunking(), mdb_backup::v1::CHUNKING_CONTENT_DEFINED);
}

// Manifests are written in format 2 (XXH3-128 of each stream); those of format 1 (SHA-256) still
// restore and are still checked; a newer format is refused, by restore and by GC alike.
TEST_F(RepositoryTest, OlderManifestsAreReadAndNewerOnesRefused) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  const std::string data = Data(1 << 20, 5);
  ASSERT_TRUE(Backup(repo.get(), "b", {{"s", data}}).ok());
  Manifest m = *repo->ReadManifest("b");
  EXPECT_EQ(m.format_version(), 2);
  EXPECT_EQ(m.streams(0).xxh3_128().size(), 16u);
  EXPECT_TRUE(m.streams(0).sha256().empty());
  auto put = [&](const Manifest& manifest) {  // as a writer of that format would have
    std::string plain = manifest.SerializeAsString();
    std::string frame(ZSTD_compressBound(plain.size()), '\0');
    frame.resize(ZSTD_compress(frame.data(), frame.size(), plain.data(), plain.size(), 1));
    ASSERT_TRUE(storage_->Put("manifests/b", frame).ok());
  };
  StreamChecksum sha(StreamChecksum::Kind::kSha256);
  sha.Update(data);
  Manifest v1 = m;
  v1.set_format_version(1);
  v1.mutable_streams(0)->clear_xxh3_128();
  v1.mutable_streams(0)->set_sha256(sha.Finish());
  put(v1);
  EXPECT_EQ(Restore(repo.get(), "b", "s"), data);
  Manifest v1_swapped = v1;  // the SHA-256 is what notices
  v1_swapped.mutable_streams(0)->mutable_chunks()->SwapElements(0, 1);
  io::StringSink sink;
  absl::Status st = repo->RestoreStream(v1_swapped, "s", &sink);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("SHA-256"), std::string::npos) << st;
  Manifest v3 = m;
  v3.set_format_version(3);
  put(v3);
  auto read = repo->ReadManifest("b");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kUnimplemented) << read.status();
  EXPECT_NE(read.status().message().find("upgrade mdb-backup"), std::string::npos);
  auto gc = repo->Gc();
  EXPECT_EQ(gc.status().code(), absl::StatusCode::kUnimplemented) << gc.status();
  auto verify = repo->Verify({});  // not checked, and not called damaged either
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_TRUE(verify->damaged.empty());
  ASSERT_EQ(verify->problems.size(), 1u);
  EXPECT_NE(verify->problems[0].find("upgrade mdb-backup"), std::string::npos);
  v3.set_format_version(2);  // nothing was freed meanwhile
  put(v3);
  EXPECT_EQ(Restore(repo.get(), "b", "s"), data);
  // A format-1 stream reused by a format-2 backup keeps its SHA-256, which restore still checks.
  auto w = repo->StartBackup({.backup_id = "c", .engine = "test"});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->AddStreamFrom("s", v1.streams(0)).ok());
  auto c = (*w)->Commit("meta");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->streams(0).sha256(), v1.streams(0).sha256());
  EXPECT_EQ(Restore(repo.get(), "c", "s"), data);
  Manifest c_swapped = *c;
  c_swapped.mutable_streams(0)->mutable_chunks()->SwapElements(0, 1);
  st = repo->RestoreStream(c_swapped, "s", &sink);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("SHA-256"), std::string::npos) << st;
}

}  // namespace
}  // namespace mdb::repo
