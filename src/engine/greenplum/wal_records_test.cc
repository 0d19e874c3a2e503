// The WAL walk on segments laid out as PostgreSQL writes them (built here byte by byte from the
// documented layouts): records across pages, a record continued from the previous segment, one
// running into the next, damaged and recycled bytes. A real server's WAL is read in
// tests/greenplum/test_window.py (a restore to the window's end).
#include "engine/greenplum/wal_records.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace mdb::engine::greenplum {
namespace {

constexpr size_t kPage = 8192;
constexpr int64_t kPgEpochMicros = 946684800LL * 1000000;

template <typename T>
void Put(std::string* b, size_t at, T v) {
  memcpy(b->data() + at, &v, sizeof(T));
}

// Writes records into a segment the way the server lays them out.
class SegmentBuilder {
 public:
  SegmentBuilder(uint64_t start, size_t pages, uint32_t continued = 0)
      : start_(start), seg_(pages * kPage, '\0') {
    for (size_t p = 0; p < pages; ++p) Header(p, p == 0 && continued > 0, continued);
    pos_ = 40;
    if (continued > 0) {  // the rest of a record: to the end of page 0, then on page 1
      uint32_t rest = continued - (kPage - 40);
      Header(1, true, rest);
      pos_ = (kPage + 24 + rest + 7) & ~size_t{7};
    }
  }

  // A record of `rmid`/`info` with `main` as its main data (short or long form by its size);
  // `blocks` adds a block reference header first (as data-changing records have).
  uint64_t Add(uint8_t rmid, uint8_t info, const std::string& main, bool block = false) {
    std::string rec(24, '\0');
    if (block) rec += std::string("\x00\x00\x00\x00", 4);  // block 0, no image, no data
    if (main.size() < 256) {
      rec += '\xff';
      rec += static_cast<char>(main.size());
    } else {
      rec += '\xfe';
      uint32_t n = main.size();
      rec.append(reinterpret_cast<char*>(&n), 4);
    }
    rec += main;
    Put<uint32_t>(&rec, 0, rec.size());
    rec[16] = static_cast<char>(info);
    rec[17] = static_cast<char>(rmid);
    uint32_t crc = Crc32c(0xFFFFFFFFu, std::string_view(rec).substr(24));
    crc = Crc32c(crc, std::string_view(rec).substr(0, 20)) ^ 0xFFFFFFFFu;
    Put<uint32_t>(&rec, 20, crc);
    return Write(rec);
  }

  static std::string Commit(int64_t unix_micros, size_t extra = 0) {
    std::string main(8 + extra, '\x07');
    int64_t pg = unix_micros - kPgEpochMicros;
    memcpy(main.data(), &pg, 8);
    return main;
  }

  // A data record that ends exactly at `target` (on the same page), so that the next starts there.
  void FillUntil(size_t target) {
    size_t n = target - pos_;
    Add(10, 0, std::string(n - 30 < 256 ? n - 30 : n - 33, 'f'), true);
  }

  // After a crash: page `p` no longer continues the record running into it, and new records
  // start after its header (XLP_FIRST_IS_OVERWRITE_CONTRECORD).
  void OverwriteFromPage(size_t p) {
    Put<uint16_t>(&seg_, p * kPage + 2, 0x0008);
    Put<uint32_t>(&seg_, p * kPage + 16, 0);
    pos_ = p * kPage + 24;
  }

  std::string& bytes() { return seg_; }
  size_t pos() const { return pos_; }

 private:
  void Header(size_t p, bool cont, uint32_t rem) {
    size_t at = p * kPage;
    Put<uint16_t>(&seg_, at, 0xD110);
    Put<uint16_t>(&seg_, at + 2, (p == 0 ? 0x0002 : 0) | (cont ? 0x0001 : 0));
    Put<uint32_t>(&seg_, at + 4, 1);
    Put<uint64_t>(&seg_, at + 8, start_ + at);
    Put<uint32_t>(&seg_, at + 16, rem);
    if (p == 0) Put<uint32_t>(&seg_, 36, kPage);
  }

  // Returns the LSN past the record; records that run off the segment's end are cut there.
  // Only the record's first 4 bytes need be on its page: the header, too, may continue on the
  // next (xlogreader.c: "the whole record header might not fit on this page").
  uint64_t Write(const std::string& rec) {
    if (pos_ % kPage == 0) pos_ += 24;
    size_t done = 0;
    while (done < rec.size() && pos_ < seg_.size()) {
      size_t room = (pos_ / kPage + 1) * kPage - pos_;
      size_t n = std::min(room, rec.size() - done);
      memcpy(seg_.data() + pos_, rec.data() + done, n);
      done += n;
      pos_ += n;
      if (done < rec.size() && pos_ < seg_.size()) {  // on to the next page, marked continued
        size_t p = pos_ / kPage;
        Header(p, true, rec.size() - done);
        pos_ += 24;
      }
    }
    uint64_t end = start_ + pos_;
    pos_ = (pos_ + 7) & ~size_t{7};
    return end;
  }

  uint64_t start_;
  std::string seg_;
  size_t pos_;
};

std::optional<TransactionEnd> Last(const std::string& seg, uint64_t start) {
  return SummarizeSegment(seg, start).last;
}

constexpr uint64_t kStart = 0x3000000;
const int64_t kT0 = 1'760'000'000'000'000;  // 2025-10-09, in Unix microseconds

TEST(WalRecords, LastCommitOrAbortWins) {
  SegmentBuilder b(kStart, 4);
  b.Add(10, 0x00, "heap insert", /*block=*/true);
  b.Add(1, 0x00, SegmentBuilder::Commit(kT0));
  b.Add(1, 0x20, SegmentBuilder::Commit(kT0 + 5));  // an abort
  uint64_t end = b.Add(1, 0x00, SegmentBuilder::Commit(kT0 + 9, 40));
  b.Add(1, 0x50, SegmentBuilder::Commit(kT0 + 99));  // an assignment: not a transaction end
  b.Add(10, 0x00, "more", true);
  auto last = Last(b.bytes(), kStart);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->time, absl::FromUnixMicros(kT0 + 9));
  EXPECT_EQ(last->end, end);
}

TEST(WalRecords, RecordsAcrossPagesAndLongMainData) {
  SegmentBuilder b(kStart, 4);
  b.Add(10, 0, std::string(8100, 'x'), true);  // fills most of page 0, runs into page 1
  b.Add(1, 0x00, SegmentBuilder::Commit(kT0));
  b.Add(1, 0x30, SegmentBuilder::Commit(kT0 + 1, 20000));  // long form, spans three pages
  auto last = Last(b.bytes(), kStart);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->time, absl::FromUnixMicros(kT0 + 1));
}

TEST(WalRecords, ContinuedFromThePreviousSegmentAndIntoTheNext) {
  SegmentBuilder b(kStart, 3, /*continued=*/9000);  // the tail of a record of the segment before
  b.Add(1, 0x00, SegmentBuilder::Commit(kT0));
  // A commit cut at the segment's end is not in this segment: its bytes are not all here.
  while (b.pos() < 3 * kPage - 100) b.Add(10, 0, std::string(500, 'y'), true);
  b.Add(1, 0x00, SegmentBuilder::Commit(kT0 + 7, 300));
  auto last = Last(b.bytes(), kStart);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->time, absl::FromUnixMicros(kT0));
}

TEST(WalRecords, StopsAtDamageRecycledBytesAndForeignPages) {
  SegmentBuilder b(kStart, 2);
  b.Add(1, 0x00, SegmentBuilder::Commit(kT0));
  size_t second = b.pos();
  b.Add(1, 0x00, SegmentBuilder::Commit(kT0 + 1));
  std::string good = b.bytes();
  b.bytes()[second + 30] ^= 1;  // a flipped bit in the second commit: its CRC fails
  EXPECT_EQ(Last(b.bytes(), kStart)->time, absl::FromUnixMicros(kT0));
  EXPECT_EQ(Last(good, kStart)->time, absl::FromUnixMicros(kT0 + 1));
  EXPECT_FALSE(SummarizeSegment(good, kStart + 0x1000000).readable);  // not its address
  EXPECT_TRUE(SummarizeSegment(good, kStart).readable);
  EXPECT_FALSE(Last(good.substr(0, 100), kStart));
  EXPECT_FALSE(Last(std::string(2 * kPage, '\0'), kStart));
  EXPECT_FALSE(Last(std::string(2 * kPage, '\xff'), kStart));
  for (uint16_t magic : {0xD07E, 0xD093, 0xD105}) {  // 9.4 (Greenplum 6), 9.6, Greenplum 7
    std::string other = good;
    Put<uint16_t>(&other, 0, magic);
    EXPECT_FALSE(SummarizeSegment(other, kStart).readable) << magic;
  }
}

TEST(WalRecords, ARecordHeaderSplitAcrossPagesIsRead) {
  for (size_t left : {8, 16}) {  // bytes of the header on the first page
    SegmentBuilder b(kStart, 3);
    b.FillUntil(kPage - left);
    ASSERT_EQ(b.pos(), kPage - left);
    uint64_t end = b.Add(1, 0x00, SegmentBuilder::Commit(kT0 + left));
    b.Add(1, 0x00, SegmentBuilder::Commit(kT0));  // later in the WAL, earlier in time
    auto last = Last(b.bytes(), kStart);
    ASSERT_TRUE(last) << left;
    EXPECT_EQ(last->time, absl::FromUnixMicros(kT0 + left)) << "the latest time wins";
    EXPECT_EQ(last->end, end);
  }
}

TEST(WalRecords, AnOverwrittenContinuationIsDroppedAndReadingGoesOn) {
  SegmentBuilder b(kStart, 3);
  b.Add(1, 0x00, SegmentBuilder::Commit(kT0));
  b.Add(10, 0, std::string(9000, 'x'), true);  // runs into page 1, then the server crashed
  b.OverwriteFromPage(1);
  b.Add(1, 0x00, SegmentBuilder::Commit(kT0 + 3));
  EXPECT_EQ(Last(b.bytes(), kStart)->time, absl::FromUnixMicros(kT0 + 3));
}

TEST(WalRecords, WalWithoutATransactionEndIsReadableAndHasNone) {
  SegmentBuilder b(kStart, 2);
  EXPECT_FALSE(SummarizeSegment(b.bytes(), kStart).readable);  // no record to check
  b.Add(10, 0x00, "heap insert", true);
  b.Add(1, 0x50, SegmentBuilder::Commit(kT0));  // an xid assignment
  SegmentSummary s = SummarizeSegment(b.bytes(), kStart);
  EXPECT_TRUE(s.readable);
  EXPECT_FALSE(s.last);
}

TEST(WalRecords, Crc32cMatchesTheStandardCheckValue) {
  // The CRC-32C of "123456789" is 0xE3069283 (RFC 3720, B.4).
  EXPECT_EQ(Crc32c(0xFFFFFFFFu, "123456789") ^ 0xFFFFFFFFu, 0xE3069283u);
}

}  // namespace
}  // namespace mdb::engine::greenplum
