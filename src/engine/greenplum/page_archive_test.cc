#include "engine/greenplum/page_archive.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/test_dir.h"
#include "engine/greenplum/page_archive_test_tar.h"
#include "engine/greenplum/tar_extract.h"
#include "io/pipe.h"
#include "io/write_behind.h"

namespace mdb::engine::greenplum {
namespace {

namespace fs = std::filesystem;
using testdata::Page;
using testdata::Tar;

struct Written {
  std::string archive;
  FileSizes files;
  ArchiveStats stats;
};

Written Write(const std::string& tar, const FileSizes* parent, Lsn threshold,
              const std::set<std::string>* whole = nullptr) {
  io::StringSource src(tar);
  io::StringSink sink;
  Written w;
  absl::Status st = WriteArchive(&src, parent, threshold, &sink, &w.files, &w.stats, whole);
  EXPECT_TRUE(st.ok()) << st;
  w.archive = sink.data();
  return w;
}

void Apply(const std::string& archive, const fs::path& dir) {
  io::StringSource src(archive);
  absl::Status st = ApplyArchive(&src, dir.string(), -1, -1);
  ASSERT_TRUE(st.ok()) << st;
}

// As a restore applies it: from a Pipe, whose pieces ApplyArchive writes without copying them
// (Pipe::Peek), here of a size that ends nowhere near a record's or a block's end.
void ApplyFromPipe(const std::string& archive, const fs::path& dir) {
  io::Pipe pipe(1 << 20);
  std::thread writer([&] {
    constexpr size_t kPiece = (777 << 10) + 13;
    for (size_t off = 0; off < archive.size(); off += kPiece) {
      if (!pipe.Write(std::string_view(archive).substr(off, kPiece)).ok()) break;
    }
    pipe.Finish();
  });
  absl::Status st = ApplyArchive(&pipe, dir.string(), -1, -1);
  if (!st.ok()) pipe.Abandon();
  writer.join();
  ASSERT_TRUE(st.ok()) << st;
}

TEST(IsRelationFile, RelationForksAndSegmentsOnly) {
  for (const char* yes : {"base/5/16384", "base/5/16384_fsm", "base/5/16384_vm", "base/5/16384.1",
                          "base/5/16384_init", "global/1262", "global/1262.12"}) {
    EXPECT_TRUE(IsRelationFile(yes)) << yes;
  }
  for (const char* no : {"base/5/PG_VERSION", "base/5/pg_filenode.map", "global/pg_control",
                         "pg_wal/000000010000000000000001", "base/5/16384.", "base/5/16384_x",
                         "base/16384", "base/5/pg_internal.init", "16384"}) {
    EXPECT_FALSE(IsRelationFile(no)) << no;
  }
}

TEST(PageArchive, IncrementalCarriesOnlyChangedPagesAndRestoresExactly) {
  const Lsn parent_start = 0x100000000ull;
  // The parent: a relation of 4 pages, a small file, a file that will be deleted, a symlink.
  Tar t1;
  t1.Dir("base");
  t1.Dir("base/5");
  std::string rel1 = Page(0x10, 'a') + Page(0x20, 'b') + Page(0x30, 'c') + Page(0x40, 'd');
  t1.File("base/5/16384", rel1);
  t1.File("base/5/PG_VERSION", "15\n");
  t1.File("base/5/99999", Page(0x50, 'z'));
  t1.Link("pg_tblspc/1", "/somewhere");
  Written base = Write(t1.Finish(), nullptr, 0);
  EXPECT_EQ(base.stats.pages_seen, 5u);
  EXPECT_EQ(base.stats.pages_stored, 5u);  // a BASE stores everything

  // The child: page 1 changed after the parent began, page 3 has a zero LSN, a fifth page was
  // added, 99999 was dropped, a new relation appeared with an old LSN (copied by CREATE DATABASE).
  Tar t2;
  t2.Dir("base");
  t2.Dir("base/5");
  std::string rel2 = Page(0x10, 'a') + Page(parent_start + 5, 'B') + Page(0x30, 'c') +
                     Page(0, '\0') + Page(0x60, 'e');
  t2.File("base/5/16384", rel2);
  t2.File("base/5/PG_VERSION", "15\n");
  t2.File("base/5/70000", Page(0x08, 'n'));
  t2.Link("pg_tblspc/1", "/somewhere");
  Written incr = Write(t2.Finish(), &base.files, parent_start);
  EXPECT_EQ(incr.stats.pages_seen, 6u);
  // Stored: page 1 (changed), 3 (zero LSN), 4 (beyond the parent's size), and 70000 whole.
  EXPECT_EQ(incr.stats.pages_stored, 4u);
  EXPECT_LT(incr.archive.size(), base.archive.size());
  EXPECT_EQ(incr.files.at("base/5/16384"), rel2.size());
  EXPECT_EQ(incr.files.count("base/5/99999"), 0u);

  fs::path dir = fs::temp_directory_path() / ("mdb-arc-" + std::to_string(getpid()));
  fs::remove_all(dir);
  Apply(base.archive, dir);
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/16384"), rel1);
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/99999"), Page(0x50, 'z'));
  Apply(incr.archive, dir);
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/16384"), rel2);
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/70000"), Page(0x08, 'n'));
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/PG_VERSION"), "15\n");
  EXPECT_FALSE(fs::exists(dir / "base/5/99999"));  // deleted since the parent
  EXPECT_EQ(fs::read_symlink(dir / "pg_tblspc/1"), "/somewhere");

  // Visibility and free-space maps change without their LSN moving: always stored whole.
  Tar t4;
  t4.File("base/5/16384_vm", Page(0x10, 'v'));
  t4.File("base/5/16384_fsm", Page(0x10, 'f'));
  FileSizes had{{"base/5/16384_vm", 8192}, {"base/5/16384_fsm", 8192}};
  Written maps = Write(t4.Finish(), &had, parent_start);
  EXPECT_EQ(maps.stats.pages_stored, 2u);

  // A relation that shrank is truncated.
  Tar t3;
  t3.File("base/5/16384", Page(0x10, 'a'));
  Written shrunk = Write(t3.Finish(), &incr.files, parent_start + 100);
  Apply(shrunk.archive, dir);
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/16384"), Page(0x10, 'a'));
  EXPECT_FALSE(fs::exists(dir / "base/5/PG_VERSION"));
  fs::remove_all(dir);
}

// Where the archive marks (the repository cuts chunks there, Chunking::kAtMarks).
struct MarkingSink final : io::ByteSink {
  absl::Status Write(std::string_view d) override {
    data.append(d);
    return absl::OkStatus();
  }
  void Mark(io::Boundary boundary) override {
    marks.push_back(data.size());
    must.push_back(boundary == io::Boundary::kMust);
  }
  // The file whose record starts at each mark ("" for a mark inside a record, "!" for one where
  // a chunk must end).
  std::vector<std::string> Files() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < marks.size(); ++i) {
      const size_t m = marks[i];
      if (must[i]) {
        out.push_back("!");
        continue;
      }
      const bool record = m + 3 <= data.size() && (data[m] == 'F' || data[m] == 'P');
      size_t n =
          record ? static_cast<uint8_t>(data[m + 1]) | static_cast<uint8_t>(data[m + 2]) << 8 : 0;
      out.push_back(record ? data.substr(m + 3, n) : "");
    }
    return out;
  }
  // The bytes from each mark to the next (the first piece: from the start).
  std::vector<std::string> Pieces() const {
    std::vector<std::string> out;
    size_t from = 0;
    for (size_t m : marks) {
      out.push_back(data.substr(from, m - from));
      from = m;
    }
    out.push_back(data.substr(from));
    return out;
  }
  std::string data;
  std::vector<size_t> marks;
  std::vector<bool> must;
};

MarkingSink WriteMarked(const std::string& tar, const FileSizes* parent) {
  io::StringSource src(tar);
  MarkingSink sink;
  FileSizes files;
  ArchiveStats stats;
  absl::Status st = WriteArchive(&src, parent, 0x100, &sink, &files, &stats);
  EXPECT_TRUE(st.ok()) << st;
  return sink;
}

// A file of 1 MiB or more starts at a mark, its header ends a chunk when it is taken whole, and
// every 128th page of it (of a BASE) or every 128th page stored (of an INCREMENTAL, which leaves
// unchanged pages out) starts at a mark.
TEST(PageArchive, LargeFilesAreMarkedAtTheirStartAndEvery128Pages) {
  std::string pages;
  for (int i = 0; i < 300; ++i) {
    pages += Page(i % 3 == 0 ? 0x50 : 0x500, static_cast<char>('a' + i % 26));
  }
  Tar tar;
  tar.File("PG_VERSION", "15\n");  // 3 bytes: marked with a chance of 3 in 2^20, not here
  tar.File("base/5/16384", pages);
  const std::string t = tar.Finish();
  MarkingSink base = WriteMarked(t, nullptr);
  EXPECT_EQ(base.Files(), (std::vector<std::string>{"base/5/16384", "!", "", ""}));
  ASSERT_EQ(base.marks.size(), 4u);
  EXPECT_EQ(base.Pieces()[2], pages.substr(0, 128 * 8192));
  EXPECT_EQ(base.Pieces()[3], pages.substr(128 * 8192, 128 * 8192));
  // Every third page is older than the parent: 200 stored, a mark after the 128th of them.
  FileSizes parent{{"base/5/16384", 300 * 8192}};
  MarkingSink incr = WriteMarked(t, &parent);
  EXPECT_EQ(incr.Files(), (std::vector<std::string>{"base/5/16384", ""}));
  ASSERT_EQ(incr.marks.size(), 2u);
  uint32_t page = 0;
  memcpy(&page, incr.data.data() + incr.marks[1], 4);
  EXPECT_EQ(page, 128u + 64 + 1);  // the 129th page whose number is not a multiple of 3
}

// A large file that grew by a page (an append-optimized file after a load, taken whole by every
// backup) changes its header, which ends a chunk of its own, and its tail: every other piece
// between two marks, and so every other chunk, is the same as before.
TEST(PageArchive, AGrownFileChangesOnlyItsHeaderAndItsTail) {
  std::string pages;
  for (int i = 0; i < 385; ++i) pages += Page(0x500 + i, static_cast<char>('a' + i % 26));
  auto pieces = [&](size_t n) {
    Tar tar;
    tar.File("base/5/16384", pages.substr(0, n * 8192));
    return WriteMarked(tar.Finish(), nullptr).Pieces();
  };
  std::vector<std::string> before = pieces(384), after = pieces(385);
  ASSERT_EQ(before.size(), 5u);    // magic | header | pages 0-127 | 128-255 | 256-383 and the end
  ASSERT_EQ(after.size(), 6u);     // ... | 256-383 | the new page and the end
  EXPECT_NE(before[1], after[1]);  // the header, with the size
  EXPECT_EQ(before[2], after[2]);
  EXPECT_EQ(before[3], after[3]);
  EXPECT_EQ(after[4], pages.substr(256 * 8192, 128 * 8192));
  EXPECT_EQ(before[4].substr(0, 128 * 8192), after[4]);
}

// Small files are marked by a hash of their name (a chance of their record's size in MiB): a run
// of them is cut at the same files in every backup, even after a file was added in front of
// them. The files are pinned: the hash is part of how backups dedup against each other.
TEST(PageArchive, RunsOfSmallFilesAreMarkedAtTheSameFilesWhateverCameBefore) {
  auto run = [](bool added) {
    Tar tar;
    if (added) tar.File("base/5/10000", std::string(8192, 'n'));
    for (int i = 0; i < 1000; ++i) {
      tar.File(absl::StrCat("base/5/", 20000 + i), std::string(8192, static_cast<char>(i)));
    }
    std::vector<std::string> marked;
    for (const auto& f : WriteMarked(tar.Finish(), nullptr).Files()) {
      if (f != "base/5/10000") marked.push_back(f);
    }
    return marked;
  };
  std::vector<std::string> before = run(false);  // about one per MiB: 8 MB of files here
  EXPECT_EQ(before, (std::vector<std::string>{"base/5/20015", "base/5/20127", "base/5/20157",
                                              "base/5/20340", "base/5/20698", "base/5/20711",
                                              "base/5/20716", "base/5/20747"}));
  EXPECT_EQ(run(true), before);
}

TEST(PageArchive, ARestoreWritesTheSameBytesBehind) {
  // Whole files in 1 MiB blocks and a tail that is not one (written behind, io/write_behind.h);
  // then pages of an incremental onto the same files.
  std::string big;
  // Past the window (its pages dropped as the file is written), then a tail of 5000 bytes.
  const size_t size = io::WriteBehind::kWindow + (5u << 20) + 5000;
  for (int i = 0; big.size() < size; ++i) big += Page(0x10 + i, 'a' + i % 26);
  big.resize(size);
  std::string rel = Page(0x10, 'a') + Page(0x20, 'b') + Page(0x30, 'c');
  Tar t1;
  t1.Dir("base");
  t1.Dir("base/5");
  t1.File("base/big", big);
  t1.File("base/5/16384", rel);
  t1.File("base/PG_VERSION", "15\n");
  Written base = Write(t1.Finish(), nullptr, 0);
  Tar t2;
  t2.Dir("base");
  t2.Dir("base/5");
  t2.File("base/big", big);
  std::string rel2 = Page(0x10, 'a') + Page(0x900000000ull, 'B') + Page(0x30, 'c');
  t2.File("base/5/16384", rel2);
  t2.File("base/PG_VERSION", "15\n");
  Written incr = Write(t2.Finish(), &base.files, 0x800000000ull);
  EXPECT_EQ(incr.stats.pages_stored, 1u);  // page 1 (big is no relation: stored whole)

  fs::path dir = fs::temp_directory_path() / ("mdb-arc-behind-" + std::to_string(getpid()));
  fs::remove_all(dir);
  ApplyFromPipe(base.archive, dir);
  EXPECT_EQ(common::ReadTestFile(dir / "base/big"), big);
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/16384"), rel);
  EXPECT_EQ(common::ReadTestFile(dir / "base/PG_VERSION"), "15\n");
  Apply(incr.archive, dir);
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/16384"), rel2);
  EXPECT_EQ(common::ReadTestFile(dir / "base/big"), big);
  fs::remove_all(dir);
}

TEST(PageArchive, AppendOptimizedFilesAreTakenWholeNotByPageLsn) {
  // An append-optimized segment file: blocks of rows, no page header; whatever its first bytes
  // read as an LSN says nothing. A block rewritten in place must come back with the increment.
  const Lsn parent_start = 0x100000000ull;
  std::string ao1 = Page(0x10, 'r') + Page(0x10, 's');
  std::string ao2 = Page(0x10, 'r') + Page(0x10, 'S');  // changed, "LSN" as old as before
  std::string heap = Page(0x10, 'h');
  Tar t1, t2;
  t1.File("base/5/24576.1", ao1);
  t1.File("base/5/16384", heap);
  t2.File("base/5/24576.1", ao2);
  t2.File("base/5/16384", heap);
  EXPECT_EQ(RelationOf("base/5/24576.1"), "base/5/24576");
  EXPECT_EQ(RelationOf("base/5/24576_fsm"), "base/5/24576");
  EXPECT_EQ(RelationOf("base/5/PG_VERSION"), "");
  const std::set<std::string> whole = {"base/5/24576"};
  Written base = Write(t1.Finish(), nullptr, 0, &whole);
  Written incr = Write(t2.Finish(), &base.files, parent_start, &whole);
  EXPECT_EQ(incr.stats.whole_files, 1u);
  // The AO file's two pages, whole; the heap page, older than the parent, left out.
  EXPECT_EQ(incr.stats.pages_stored, 2u);
  fs::path dir = fs::temp_directory_path() / ("mdb-ao-" + std::to_string(getpid()));
  fs::remove_all(dir);
  Apply(base.archive, dir);
  Apply(incr.archive, dir);
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/24576.1"), ao2);
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/16384"), heap);
  // A database that could not be looked into: every relation file in it whole.
  const std::set<std::string> closed_db = {"base/5"};
  Written closed = Write(t2.Finish(), &base.files, parent_start, &closed_db);
  EXPECT_EQ(closed.stats.whole_files, 2u);
  // Without the rule the changed block is lost: what the page LSN alone would restore.
  Written blind = Write(t2.Finish(), &base.files, parent_start);
  fs::remove_all(dir);
  Apply(base.archive, dir);
  Apply(blind.archive, dir);
  EXPECT_EQ(common::ReadTestFile(dir / "base/5/24576.1"), ao1);
  fs::remove_all(dir);
}

TEST(PageArchive, DamagedArchivesAreRefused) {
  fs::path dir = fs::temp_directory_path() / ("mdb-arc-bad-" + std::to_string(getpid()));
  io::StringSource bad("not an archive");
  EXPECT_EQ(ApplyArchive(&bad, dir.string(), -1, -1).code(), absl::StatusCode::kDataLoss);
  Tar t;
  t.File("base/5/1", Page(1, 'x'));
  Written w = Write(t.Finish(), nullptr, 0);
  io::StringSource cut(w.archive.substr(0, w.archive.size() / 2));
  EXPECT_EQ(ApplyArchive(&cut, dir.string(), -1, -1).code(), absl::StatusCode::kDataLoss);
  fs::remove_all(dir);
  EXPECT_EQ(ParseFileSizes("a\t1\nb\tx\n").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseFileSizes(FormatFileSizes({{"base/1/2", 8192}, {"x y", 0}}))->at("x y"), 0u);
}

// Entries BASE_BACKUP does not produce (a pax header, from a source that is not what it says)
// are skipped with their data, however large; one cut short is DataLoss.
TEST(PageArchive, EntriesOfOtherTypesAreSkippedWithTheirData) {
  Tar plain, with_pax;
  with_pax.File("pax", std::string((1 << 20) + 700, 'h'), 0600, 'x');
  for (Tar* t : {&plain, &with_pax}) t->File("base/5/1", Page(1, 'x'));
  const std::string tar = with_pax.Finish();
  EXPECT_EQ(Write(tar, nullptr, 0).archive, Write(plain.Finish(), nullptr, 0).archive);
  io::StringSource cut(tar.substr(0, 512 + (1 << 20)));
  io::StringSink sink;
  FileSizes files;
  ArchiveStats stats;
  EXPECT_EQ(WriteArchive(&cut, nullptr, 0, &sink, &files, &stats).code(),
            absl::StatusCode::kDataLoss);
}

// A source that lists files without end is stopped at the limit with an error, not by memory;
// a directory does not count, and a name sent again costs nothing more.
TEST(PageArchive, AnArchiveListingMoreFilesThanTheLimitIsRefused) {
  auto write = [](const std::string& tar) {
    io::StringSource src(tar);
    io::StringSink sink;
    FileSizes files;
    ArchiveStats stats;
    return WriteArchive(&src, nullptr, 0, &sink, &files, &stats, nullptr, /*max_files=*/3);
  };
  Tar at_limit;
  at_limit.Dir("base");
  for (const char* name : {"a", "b", "c", "a"}) at_limit.File(name, "x");
  EXPECT_TRUE(write(at_limit.Finish()).ok());
  Tar over;
  for (const char* name : {"a", "b", "c", "d"}) over.File(name, "x");
  absl::Status st = write(over.Finish());
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "(3 so far, 4 bytes of names; the limit is 3 files"))
      << st;
  // Long names count too: 64 bytes each on average (192 here), 2 x 99 are more.
  Tar long_names;
  for (char c : {'a', 'b'}) long_names.File(std::string(99, c), "x");
  st = write(long_names.Finish());
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_TRUE(
      absl::StrContains(st.message(), "(1 so far, 198 bytes of names; the limit is 3 files"))
      << st;
}

// Restored from a bucket someone else can write to: an archive listing more than a backup may
// (empty files and links cost little disk, but their names are held until the end) is refused
// as not a backup.
TEST(PageArchive, ApplyingAnArchiveListingMoreFilesThanABackupHoldsIsRefused) {
  auto dir = common::FreshTestDir("apply_limit");
  auto apply = [&](Tar tar, size_t max_files) {
    io::StringSource src(tar.Finish());
    io::StringSink sink;
    FileSizes files;
    ArchiveStats stats;
    EXPECT_TRUE(WriteArchive(&src, nullptr, 0, &sink, &files, &stats).ok());
    io::StringSource archive(sink.data());
    return ApplyArchive(&archive, dir.string(), -1, -1, max_files);
  };
  Tar files;
  for (const char* name : {"a", "b", "c", "d"}) files.File(name, "");
  EXPECT_TRUE(apply(files, 4).ok());
  absl::Status st = apply(files, 3);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "more than 3 files or 192 bytes")) << st;
  // At the limit with a tablespace's link among the names, as WriteArchive lets a backup be.
  Tar with_link;
  for (const char* name : {"a", "b", "c"}) with_link.File(name, "");
  with_link.Link("pg_tblspc/16385", (dir / "ts").string());
  EXPECT_TRUE(apply(with_link, 4).ok());
  // One tablespace's link, sent again and again: each is kept until the end, so each counts.
  Tar links;
  for (int i = 0; i < 4; ++i) links.Link("pg_tblspc/16385", (dir / "ts").string());
  EXPECT_EQ(apply(links, 3).code(), absl::StatusCode::kDataLoss);
  Tar long_names;
  for (char c : {'a', 'b'}) long_names.File(std::string(99, c), "x");
  EXPECT_EQ(apply(long_names, 3).code(), absl::StatusCode::kDataLoss);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mdb::engine::greenplum
