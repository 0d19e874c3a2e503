// The format's versions and per-stream choices: manifests of formats 1 and 2 read beside format 3,
// newer ones refused; streams cut at their producer's marks, whose chunks are named by their
// frames.
#include <gtest/gtest.h>
#include <zstd.h>

#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io/pipe.h"
#include "repo/repository.h"
#include "repo/repository_test_fixture.h"

namespace mdb::repo {
namespace {

// A Pipe's reading end that counts the pieces taken whole and the bytes read.
class CountingSource final : public io::ByteSource {
 public:
  explicit CountingSource(io::Pipe* pipe) : pipe_(pipe) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    auto got = pipe_->Read(buf, n);
    if (got.ok()) read += *got;
    return got;
  }
  io::Boundary TakeMark() override { return pipe_->TakeMark(); }
  std::optional<std::string> TakePiece(size_t min, size_t max) override {
    auto piece = pipe_->TakePiece(min, max);
    if (piece) ++taken;
    return piece;
  }
  size_t read = 0, taken = 0;

 private:
  io::Pipe* pipe_;
};

// A backup of one stream cut at marks, written as `pieces` (each after its mark, when it has one)
// handed over whole (WriteOwned); `counted` says what the chunker took whole and read.
absl::StatusOr<Manifest> BackupAtMarks(
    Repository* repo, const std::string& id,
    const std::vector<std::pair<io::Boundary, std::string>>& pieces,
    std::pair<size_t, size_t>* counted = nullptr) {
  auto w = repo->StartBackup({.backup_id = id, .engine = "test"});
  if (!w.ok()) return w.status();
  io::Pipe pipe(1 << 20);
  CountingSource source(&pipe);
  std::thread producer([&] {
    for (const auto& [mark, piece] : pieces) {
      pipe.Mark(mark);
      EXPECT_TRUE(pipe.WriteOwned(piece).ok());
    }
    pipe.Finish();
  });
  absl::Status st = (*w)->AddStream("s", &source, Chunking::kAtMarks);
  if (!st.ok()) pipe.Abandon();
  producer.join();
  if (!st.ok()) return st;
  if (counted) *counted = {source.taken, source.read};
  return (*w)->Commit("meta");
}

// `data` in one piece: one chunk when it is small.
absl::StatusOr<Manifest> BackupAtMarks(Repository* repo, const std::string& id,
                                       const std::string& data) {
  return BackupAtMarks(repo, id, {{io::Boundary::kMay, data}});
}

// What Codec::Compress makes of `plain` in a plain repository at zstd level 1 (Codec::EncodeChunk
// without `checksum`).
std::string FrameOf(const std::string& plain, bool checksum = true) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum ? 1 : 0);
  std::string frame(ZSTD_compressBound(plain.size()), '\0');
  frame.resize(ZSTD_compress2(c, frame.data(), frame.size(), plain.data(), plain.size()));
  ZSTD_freeCCtx(c);
  return frame;
}

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
  EXPECT_EQ(s.chunk_ids(), mdb_backup::v1::CHUNK_IDS_OF_FRAME);
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
  EXPECT_EQ(reused->streams(0).chunk_ids(), mdb_backup::v1::CHUNK_IDS_OF_FRAME);
  EXPECT_EQ(Restore(repo.get(), "r", "s"), Restore(repo.get(), "a", "s"));
  // A content-defined stream says so.
  auto plain = Backup(repo.get(), "c", {{"s", Data(100 << 10, 3)}});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->streams(0).chunking(), mdb_backup::v1::CHUNKING_CONTENT_DEFINED);
  EXPECT_EQ(plain->streams(0).chunk_ids(), mdb_backup::v1::CHUNK_IDS_OF_CONTENT);
}

// A piece handed over whole (Pipe::TakePiece) is a chunk without a copy, and still grows into
// one when more bytes come before the next mark.
TEST_F(RepositoryTest, APieceTakenWholeGrowsWhenNoMarkFollows) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  const std::vector<std::string> pieces = {Data(40 << 10, 1), Data(30 << 10, 2), Data(40 << 10, 3),
                                           Data(20 << 10, 4), Data(40 << 10, 5)};
  using io::Boundary;  // none between a piece and the next; the last one ends the stream
  std::pair<size_t, size_t> taken_and_read;
  auto m = BackupAtMarks(repo.get(), "a",
                         {{Boundary::kMay, pieces[0]},
                          {Boundary::kNone, pieces[1]},
                          {Boundary::kMay, pieces[2]},
                          {Boundary::kNone, pieces[3]},
                          {Boundary::kMust, pieces[4]}},
                         &taken_and_read);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(taken_and_read, std::make_pair(size_t{3}, size_t{50} << 10));
  std::vector<uint32_t> sizes;
  for (const auto& c : m->streams(0).chunks()) sizes.push_back(c.size());
  EXPECT_EQ(sizes, (std::vector<uint32_t>{70 << 10, 60 << 10, 40 << 10}));
  EXPECT_EQ(Restore(repo.get(), "a", "s"),
            pieces[0] + pieces[1] + pieces[2] + pieces[3] + pieces[4]);
}

// A restore into a Pipe decodes each chunk into a piece its reader used up (Pipe::Spare): chunks
// of other sizes, smaller and larger than the spare, still come out exactly.
TEST_F(RepositoryTest, ARestoreThroughAPipeReusesItsPiecesExactly) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  std::vector<std::pair<io::Boundary, std::string>> pieces;
  std::string all;
  for (size_t i = 0; i < 24; ++i) {
    all += pieces.emplace_back(io::Boundary::kMust, Data(((i * 7) % 5 + 1) * (30 << 10), 10 + i))
               .second;
  }
  auto m = BackupAtMarks(repo.get(), "a", pieces);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->streams(0).chunks_size(), 24);
  io::Pipe out(128 << 10);  // a few chunks in it at a time: most are decoded into spares
  class CountingSink final : public io::ByteSink {
   public:
    explicit CountingSink(io::Pipe* pipe) : pipe_(pipe) {}
    absl::Status Write(std::string_view data) override { return pipe_->Write(data); }
    absl::Status WriteOwned(std::string data) override {
      return pipe_->WriteOwned(std::move(data));
    }
    std::string Spare(size_t want) override {
      std::string spare = pipe_->Spare(want);
      spares += !spare.empty();
      return spare;
    }
    int spares = 0;

   private:
    io::Pipe* pipe_;
  } sink(&out);
  std::string restored;
  std::thread reader([&] {
    char buf[4096];
    for (;;) {
      auto n = out.Read(buf, sizeof(buf));
      if (!n.ok() || *n == 0) break;
      restored.append(buf, *n);
    }
  });
  absl::Status st = repo->RestoreStream(*m, "s", &sink);
  out.Finish();
  reader.join();
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(restored, all);
  EXPECT_GT(sink.spares, 0);
}

// A stream's chunks are checked as the kind of id its manifest names: a frame-id chunk read as a
// content-id one (or a kind no writer sets) is damage, at restore and at verify. And a plaintext
// that is byte for byte another chunk's stored frame is a chunk of its own: frame ids have a key
// of their own, so the two never share an id (the same key would hand the second stream the
// first one's plaintext through dedup).
TEST_F(RepositoryTest, ChunksNamedByTheirFramesAreCheckedSoAndNeverTakenForContent) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  const std::string pages = Data(8 << 10, 11);  // below min_size: one chunk
  auto a = BackupAtMarks(repo.get(), "a", pages);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->streams(0).chunks_size(), 1);
  ASSERT_EQ(a->streams(0).chunk_ids(), mdb_backup::v1::CHUNK_IDS_OF_FRAME);
  EXPECT_EQ(a->format_version(), 3);  // what a reader of format 2 would misread
  EXPECT_EQ(Restore(repo.get(), "a", "s"), pages);

  const std::string frame = FrameOf(pages);
  bool stored = false;  // that the frame below is the very bytes in the pack
  auto packs = storage_->List("packs/");
  ASSERT_TRUE(packs.ok()) << packs.status();
  for (const auto& o : *packs) {
    stored = stored || storage_->Get(o.key)->find(frame) != std::string::npos;
  }
  ASSERT_TRUE(stored);
  auto b = Backup(repo.get(), "b", {{"s", frame}});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(b->streams(0).chunks(0).id(), a->streams(0).chunks(0).id());
  EXPECT_EQ(b->format_version(), 2);  // content ids only: readable by a reader of format 2
  EXPECT_GT(b->added_bytes(), 0u);
  EXPECT_EQ(Restore(repo.get(), "b", "s"), frame);
  EXPECT_EQ(Restore(repo.get(), "a", "s"), pages);

  io::StringSink sink;
  Manifest mislabelled = *a;
  mislabelled.mutable_streams(0)->set_chunk_ids(mdb_backup::v1::CHUNK_IDS_OF_CONTENT);
  absl::Status st = repo->RestoreStream(mislabelled, "s", &sink);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("does not match its id"), std::string::npos) << st;
  mislabelled.mutable_streams(0)->set_chunk_ids(static_cast<mdb_backup::v1::ChunkIds>(7));
  st = repo->RestoreStream(mislabelled, "s", &sink);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("no writer"), std::string::npos) << st;

  auto verify = repo->Verify({});
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_TRUE(verify->damaged.empty()) << verify->problems.size();
  mislabelled.mutable_streams(0)->set_chunk_ids(mdb_backup::v1::CHUNK_IDS_OF_CONTENT);
  std::string plain = mislabelled.SerializeAsString();
  ASSERT_TRUE(storage_->Put("manifests/a", FrameOf(plain)).ok());
  verify = repo->Verify({});
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_EQ(verify->damaged, std::vector<std::string>{"a"});
  ASSERT_EQ(verify->problems.size(), 1u);
  EXPECT_NE(verify->problems[0].find("does not match its id"), std::string::npos);
}

// A chunk named by its content is stored without zstd's checksum (its id checks the plaintext
// after every decompression); one named by its frame keeps it, or its id would change. A byte
// damaged inside a content chunk's frame is still refused, by restore and verify alike, and by
// the id: the chunk is random bytes, which zstd stores as a raw block it cannot check.
TEST_F(RepositoryTest, OnlyChunksNamedByTheirFramesCarryZstdsChecksum) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  const std::string pages = Data(8 << 10, 21);
  std::string text(8 << 10, '\0');
  std::mt19937 rng(22);
  for (char& c : text) c = static_cast<char>(rng());
  ASSERT_TRUE(BackupAtMarks(repo.get(), "a", pages).ok());
  auto b = Backup(repo.get(), "b", {{"s", text}});
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->streams(0).chunks_size(), 1);
  auto packs = storage_->List("packs/");
  ASSERT_TRUE(packs.ok()) << packs.status();
  auto stored = [&](const std::string& frame) {
    for (const auto& o : *packs) {
      if (storage_->Get(o.key)->find(frame) != std::string::npos) return o.key;
    }
    return std::string();
  };
  EXPECT_NE(stored(FrameOf(pages)), "");
  EXPECT_EQ(stored(FrameOf(pages, false)), "");
  EXPECT_EQ(stored(FrameOf(text)), "");
  const std::string frame = FrameOf(text, false);
  const std::string key = stored(frame);
  ASSERT_NE(key, "");

  std::string pack = *storage_->Get(key);
  pack[pack.find(frame) + frame.size() / 2] ^= 0x10;
  ASSERT_TRUE(storage_->Put(key, pack).ok());
  io::StringSink sink;
  absl::Status st = repo->RestoreStream(*b, "s", &sink);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("does not match its id"), std::string::npos) << st;
  auto verify = repo->Verify({});
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_EQ(verify->damaged, std::vector<std::string>{"b"});
  ASSERT_EQ(verify->problems.size(), 1u);
  EXPECT_NE(verify->problems[0].find("does not match its id"), std::string::npos);
}

// Encrypted, a chunk is sealed to its id, which is the same whichever kind the manifest says it
// is of: the id's own check is what refuses a frame-id chunk read as content.
TEST_F(RepositoryTest, AnEncryptedRepositoryChecksFrameIdsToo) {
  InitOptions o = Small();
  o.key = std::string(32, 'k');
  auto repo = std::move(*Repository::Init(storage_.get(), o));
  const std::string pages = Data(300 << 10, 12);
  auto a = BackupAtMarks(repo.get(), "a", pages);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->streams(0).chunk_ids(), mdb_backup::v1::CHUNK_IDS_OF_FRAME);
  EXPECT_EQ(Restore(repo.get(), "a", "s"), pages);
  Manifest mislabelled = *a;
  mislabelled.mutable_streams(0)->set_chunk_ids(mdb_backup::v1::CHUNK_IDS_OF_CONTENT);
  io::StringSink sink;
  absl::Status st = repo->RestoreStream(mislabelled, "s", &sink);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("does not match its id"), std::string::npos) << st;
  auto verify = repo->Verify({});
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_TRUE(verify->problems.empty()) << verify->problems[0];
  EXPECT_EQ(verify->backups_checked, 1);
}

// Manifests of content ids only are written in format 2 (XXH3-128 of each stream), those with a
// stream of frame ids in format 3; those of format 1 (SHA-256) still restore and are still
// checked; a newer format is refused, by restore and by GC alike.
TEST_F(RepositoryTest, OlderManifestsAreReadAndNewerOnesRefused) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  const std::string data = Data(1 << 20, 5);
  ASSERT_TRUE(Backup(repo.get(), "b", {{"s", data}}).ok());
  Manifest m = *repo->ReadManifest("b");
  EXPECT_EQ(m.format_version(), 2);
  EXPECT_EQ(m.streams(0).chunk_ids(), mdb_backup::v1::CHUNK_IDS_OF_CONTENT);
  EXPECT_EQ(m.streams(0).xxh3_128().size(), 16u);
  EXPECT_TRUE(m.streams(0).sha256().empty());
  auto put = [&](const Manifest& manifest) {  // as a writer of that format would have
    ASSERT_TRUE(storage_->Put("manifests/b", FrameOf(manifest.SerializeAsString())).ok());
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
  Manifest v3 = m;  // format 3 with content ids only: as a reader of format 3 may meet
  v3.set_format_version(3);
  put(v3);
  EXPECT_EQ(Restore(repo.get(), "b", "s"), data);
  Manifest v4 = m;
  v4.set_format_version(4);
  put(v4);
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
  put(m);  // nothing was freed meanwhile
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
