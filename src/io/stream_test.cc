#include "io/stream.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io/pipe.h"

namespace mdb::io {
namespace {

TEST(Stream, ReadFullStopsAtTheEnd) {
  StringSource src("hello world");
  char buf[32];
  EXPECT_EQ(*ReadFull(&src, buf, 5), 5u);
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_EQ(*ReadFull(&src, buf, 32), 6u);
  EXPECT_EQ(*ReadFull(&src, buf, 32), 0u);
}

TEST(Stream, FdStreamsCrossAPipe) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  FdSink sink(fds[1]);
  ASSERT_TRUE(sink.Write("abc").ok());
  ASSERT_TRUE(sink.Close().ok());  // not a regular file: no fsync, no error
  close(fds[1]);
  FdSource src(fds[0]);
  char buf[8];
  EXPECT_EQ(*ReadFull(&src, buf, 8), 3u);
  close(fds[0]);
}

}  // namespace
}  // namespace mdb::io

TEST(Pipe, AnEmptyWriteIsNotTheEnd) {
  mdb::io::Pipe pipe(8);
  std::thread writer([&] {
    ASSERT_TRUE(pipe.Write("ab").ok());
    ASSERT_TRUE(pipe.Write("").ok());  // must not read as the end of the stream
    ASSERT_TRUE(pipe.Write("cdefghijkl").ok());
    ASSERT_TRUE(pipe.WriteOwned("").ok());  // nor one handed over
    ASSERT_TRUE(pipe.WriteOwned(std::string(100, 'm')).ok());
    pipe.Finish();
  });
  std::string got(256, '\0');
  auto n = mdb::io::ReadFull(&pipe, got.data(), got.size());
  writer.join();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(got.substr(0, *n), "abcdefghijkl" + std::string(100, 'm'));
}

// Peek shows the bytes where the pipe holds them, up to a piece's end, past marks; Consume
// moves on by what was used; the end is an empty view.
TEST(Pipe, PeekShowsTheNextBytesUntilConsumed) {
  mdb::io::Pipe pipe;
  const std::string owned(100, 'x');
  ASSERT_TRUE(pipe.Write("abcdef").ok());
  pipe.Mark(mdb::io::Boundary::kMay);
  ASSERT_TRUE(pipe.WriteOwned(owned).ok());
  pipe.Finish();
  auto view = pipe.Peek(4);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(*view, "abcd");
  EXPECT_EQ(*pipe.Peek(4), "abcd");  // nothing consumed yet
  pipe.Consume(3);
  EXPECT_EQ(*pipe.Peek(64), "def");  // a piece's end bounds a view
  pipe.Consume(3);
  EXPECT_EQ(*pipe.Peek(1000), owned);  // past the mark
  char c;
  pipe.Consume(99);
  ASSERT_EQ(*pipe.Read(&c, 1), 1u);  // Read and Peek share the place
  EXPECT_EQ(c, 'x');
  EXPECT_TRUE(pipe.Peek(10)->empty());
  mdb::io::StringSource copies("abc");
  EXPECT_EQ(copies.Peek(3).status().code(), absl::StatusCode::kUnimplemented);
}

// A piece handed over whole is handed on whole: the same bytes, not a copy of them, when none of
// it was read and its size is within the bounds asked; otherwise it stays to be read.
TEST(Pipe, TakePieceMovesOutAWholePieceOnly) {
  using mdb::io::ReadFull;
  using mdb::io::StringSource;
  mdb::io::Pipe pipe(64);  // holds one 64-byte piece: a writer of a second waits for the first
  std::string first(64, 'a');
  const char* where = first.data();
  ASSERT_TRUE(pipe.WriteOwned(std::move(first)).ok());
  std::thread writer([&] {
    EXPECT_TRUE(pipe.WriteOwned(std::string(40, 'b')).ok());
    EXPECT_TRUE(pipe.WriteOwned(std::string(50, 'c')).ok());
    pipe.Finish();
  });
  std::optional<std::string> taken = pipe.TakePiece(64, 64);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(*taken, std::string(64, 'a'));
  EXPECT_EQ(taken->data(), where);  // moved, not copied
  // Out of bounds: left where it is, and read as usual.
  EXPECT_FALSE(pipe.TakePiece(41, 100).has_value());
  EXPECT_FALSE(pipe.TakePiece(1, 39).has_value());
  char buf[8];
  ASSERT_EQ(*pipe.Read(buf, 8), 8u);
  EXPECT_FALSE(pipe.TakePiece(1, 100).has_value());  // a piece partly read is not whole
  std::string rest(32, '\0');
  ASSERT_EQ(*ReadFull(&pipe, rest.data(), rest.size()), 32u);
  EXPECT_EQ(rest, std::string(32, 'b'));
  taken = pipe.TakePiece(1, 100);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(*taken, std::string(50, 'c'));
  writer.join();  // it could write its pieces: what was taken no longer counts as buffered
  EXPECT_FALSE(pipe.TakePiece(0, 100).has_value());  // the end
  EXPECT_EQ(*pipe.Read(buf, 8), 0u);
  StringSource copies("abc");
  EXPECT_FALSE(copies.TakePiece(0, 100).has_value());
}

// A piece its reader used up is the writer's spare, once the writer asks for spares: one that
// holds what is wanted and not twice as much; none small; a few MiB in all; never a piece taken
// whole, which is the reader's.
TEST(Pipe, AUsedPieceIsTheWritersSpare) {
  constexpr size_t kMiB = (1 << 20) - 64;  // (whatever an allocator rounds a MiB up to)
  mdb::io::Pipe pipe;
  std::string out(6 << 20, '\0');
  auto drain = [&](size_t n) { ASSERT_EQ(*mdb::io::ReadFull(&pipe, out.data(), n), n); };
  ASSERT_TRUE(pipe.WriteOwned(std::string(kMiB, 'a')).ok());
  drain(kMiB);
  EXPECT_TRUE(pipe.Spare(kMiB).empty());  // not kept before the writer asked for any
  std::string piece(kMiB, 'b');
  const char* where = piece.data();
  ASSERT_TRUE(pipe.WriteOwned(std::move(piece)).ok());
  drain(kMiB / 2);
  EXPECT_TRUE(pipe.Spare(kMiB).empty());  // not used up yet
  drain(kMiB - kMiB / 2);
  EXPECT_TRUE(pipe.Spare(kMiB / 3).empty());     // more than twice what is wanted
  EXPECT_TRUE(pipe.Spare(2 * kMiB).empty());     // too small
  std::string spare = pipe.Spare(kMiB / 2 + 1);  // fits
  EXPECT_EQ(spare.data(), where);
  EXPECT_TRUE(pipe.Spare(kMiB).empty());  // given once
  ASSERT_TRUE(pipe.WriteOwned(std::string(1000, 's')).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pipe.WriteOwned(std::string(kMiB, 'c')).ok());
  drain(1000 + 5 * kMiB);
  EXPECT_TRUE(pipe.Spare(1000).empty());  // small: not kept, not given
  int kept = 0;
  while (!pipe.Spare(kMiB).empty()) ++kept;
  EXPECT_EQ(kept, 4);  // of five
  ASSERT_TRUE(pipe.WriteOwned(std::string(kMiB, 'd')).ok());
  ASSERT_TRUE(pipe.TakePiece(1, kMiB).has_value());
  EXPECT_TRUE(pipe.Spare(kMiB).empty());
}

// ReadOwned reads `n` bytes across pieces (through Peek) or by Read, shorter only at the end.
TEST(Stream, ReadOwnedReadsAcrossPiecesUntilTheEnd) {
  using mdb::io::Boundary;
  using mdb::io::Pipe;
  using mdb::io::ReadOwned;
  using mdb::io::StringSource;
  Pipe pipe;
  ASSERT_TRUE(pipe.Write("abc").ok());
  pipe.Mark(Boundary::kMay);
  ASSERT_TRUE(pipe.Write("defg").ok());
  pipe.Finish();
  EXPECT_EQ(*ReadOwned(&pipe, 5), "abcde");
  EXPECT_EQ(*ReadOwned(&pipe, 100), "fg");
  EXPECT_EQ(*ReadOwned(&pipe, 100), "");
  mdb::io::Pipe more;  // more than one piece's worth, and never more than asked
  ASSERT_TRUE(more.Write("hij").ok());
  ASSERT_TRUE(more.Write("klm").ok());
  more.Finish();
  EXPECT_EQ(*ReadOwned(&more, 4), "hijk");
  EXPECT_EQ(*ReadOwned(&more, 2), "lm");
  StringSource copies("abcdefg");
  EXPECT_EQ(*ReadOwned(&copies, 5), "abcde");
  EXPECT_EQ(*ReadOwned(&copies, 100), "fg");
  EXPECT_EQ(*ReadOwned(&copies, 100), "");
}

TEST(Pipe, TheConsumersErrorIsTheCauseWhenItAbandoned) {
  using mdb::io::PipeResult;
  absl::Status disk = absl::ResourceExhaustedError("disk full");
  absl::Status abandoned = absl::CancelledError("the reader stopped");
  EXPECT_EQ(PipeResult(abandoned, disk), disk);
  EXPECT_EQ(PipeResult(absl::DataLossError("chunk"), absl::DataLossError("truncated")).message(),
            "chunk");  // the producer failed first: the consumer only saw the stream end
  EXPECT_TRUE(PipeResult(absl::OkStatus(), absl::OkStatus()).ok());
  EXPECT_EQ(PipeResult(abandoned, absl::OkStatus()), abandoned);  // a cancel with no other cause
}

// Marks pass through in order and bound each Read; a reader that takes none reads past them.
TEST(Pipe, MarksBoundReadsAndAreTakenOnce) {
  using mdb::io::Boundary;
  mdb::io::Pipe pipe;
  ASSERT_TRUE(pipe.Write("ab").ok());
  pipe.Mark(Boundary::kMay);
  pipe.Mark(Boundary::kMust);  // two in a row are one place, the stronger
  pipe.Mark(Boundary::kMay);
  ASSERT_TRUE(pipe.Write("cd").ok());
  ASSERT_TRUE(pipe.Write("ef").ok());
  pipe.Mark(Boundary::kMay);
  ASSERT_TRUE(pipe.Write("gh").ok());
  pipe.Mark(Boundary::kMay);  // at the end: a place, then the end
  pipe.Finish();
  std::vector<std::string> seen;
  char buf[64];
  ASSERT_EQ(*pipe.Read(buf, sizeof(buf)), 2u);
  EXPECT_EQ(pipe.TakeMark(), Boundary::kMust);
  EXPECT_EQ(pipe.TakeMark(), Boundary::kNone);  // the others of the three were not kept
  for (;;) {
    if (pipe.TakeMark() == Boundary::kMay) seen.push_back("|");
    auto n = pipe.Read(buf, sizeof(buf));
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    seen.emplace_back(buf, *n);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"cd", "ef", "|", "gh", "|"}));
  EXPECT_EQ(pipe.TakeMark(), Boundary::kNone);

  mdb::io::Pipe unmarked;
  std::thread writer([&] {
    for (const char* piece : {"ab", "cd", "ef"}) {
      EXPECT_TRUE(unmarked.Write(piece).ok());
      unmarked.Mark(Boundary::kMust);
    }
    unmarked.Finish();  // on every path: a failed write must not leave the reader waiting
  });
  auto n = mdb::io::ReadFull(&unmarked, buf, sizeof(buf));
  writer.join();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "abcdef");
}

// A cancel stops the copy at the next write, whichever kind; what came before it went through.
TEST(CancellableSink, FailsEveryWriteOnceCancelled) {
  mdb::io::StringSink inner;
  std::atomic<bool> cancelled{false};
  mdb::io::CancellableSink sink(&inner, &cancelled, "restore cancelled");
  ASSERT_TRUE(sink.Write("ab").ok());
  ASSERT_TRUE(sink.WriteOwned("cd").ok());
  EXPECT_FALSE(sink.refused());
  cancelled = true;
  EXPECT_FALSE(sink.refused());  // a cancel no write met did not end the copy
  absl::Status st = sink.Write("ef");
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled) << st;
  EXPECT_EQ(st.message(), "restore cancelled");
  EXPECT_EQ(sink.WriteOwned("gh").code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(inner.data(), "abcd");
  EXPECT_TRUE(sink.refused());
}

// The reader gave up for its own reason (a full disk) and abandoned the pipe: the writes fail
// CANCELLED from the pipe, which is not the cancel, even when one is requested after.
TEST(CancellableSink, AnAbandonedPipeIsNotACancel) {
  mdb::io::Pipe pipe(1 << 10);
  std::atomic<bool> cancelled{false};
  mdb::io::CancellableSink sink(&pipe, &cancelled, "restore cancelled");
  pipe.Abandon();
  EXPECT_FALSE(sink.Write("ab").ok());
  EXPECT_FALSE(sink.refused());
  cancelled = true;
  EXPECT_FALSE(sink.Write("cd").ok());
  EXPECT_TRUE(sink.refused());  // from here on the cancel refused it: the caller orders the two
}
