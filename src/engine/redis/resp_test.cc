// The RESP reader against hostile replies, over a socket pair: whatever a server sends, the reader
// answers with an error naming the address, never a crash or an allocation the bytes did not pay
// for.
#include "engine/redis/resp.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace mdb::engine::redis {
namespace {

// A connection whose server side is written by a thread (so that replies larger than the socket
// buffer do not block the test).
class FakeServer {
 public:
  FakeServer() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    // 200 ms for every wait (RespConn polls before it reads; Adopt's default would be 60 s).
    conn_ = RespConn::Adopt(fds[0], "fake:6379", absl::Milliseconds(200));
    server_ = fds[1];
  }
  ~FakeServer() {
    stop_ = true;
    shutdown(server_, SHUT_RDWR);
    if (writer_.joinable()) writer_.join();
    close(server_);
  }
  // Sends `data` (all of it, or until the reader goes away).
  void Send(std::string data) {
    writer_ = std::thread([this, data = std::move(data)] {
      size_t done = 0;
      while (done < data.size() && !stop_) {
        ssize_t n = send(server_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return;
        done += static_cast<size_t>(n);
      }
    });
  }
  // Sends one byte of `data` every `ms` milliseconds, forever.
  void Trickle(std::string data, int ms) {
    writer_ = std::thread([this, data = std::move(data), ms] {
      for (size_t i = 0; !stop_; ++i) {
        if (send(server_, &data[i % data.size()], 1, MSG_NOSIGNAL) <= 0) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      }
    });
  }
  RespConn* conn() { return conn_.get(); }

 private:
  std::unique_ptr<RespConn> conn_;
  int server_ = -1;
  std::atomic<bool> stop_{false};
  std::thread writer_;
};

void ExpectRefused(const absl::StatusOr<RespValue>& v, absl::string_view what) {
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << v.status();
  EXPECT_TRUE(absl::StrContains(v.status().message(), "redis fake:6379")) << v.status();
  EXPECT_TRUE(absl::StrContains(v.status().message(), what)) << v.status();
}

TEST(RespReader, ReadsNestedRepliesWithinTheLimits) {
  FakeServer s;
  s.Send("*3\r\n*1\r\n:5\r\n$3\r\nabc\r\n$-1\r\n+OK\r\n");
  auto v = s.conn()->ReadReply();
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->array.size(), 3u);
  EXPECT_EQ(v->array[0].array[0].integer, 5);
  EXPECT_EQ(v->array[1].str, "abc");
  EXPECT_EQ(v->array[2].type, RespValue::Type::kNil);
  auto next = s.conn()->ReadReply();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->str, "OK");
}

TEST(RespReader, DeepNestingIsRefusedNotRecursedInto) {
  FakeServer s;
  std::string deep;
  for (int i = 0; i < 2000000; ++i) deep += "*1\r\n";  // once crashed the service (stack)
  s.Send(deep);
  ExpectRefused(s.conn()->ReadReply(), "reply refused: nesting depth 9 (at most 8;");
}

TEST(RespReader, HugeDeclaredLengthsAreRefusedBeforeAllocating) {
  FakeServer s;
  s.Send("$3000000000\r\n");
  ExpectRefused(s.conn()->ReadReply(),
                "reply refused: bulk string bytes 3000000000 (at most 67108864;");
  FakeServer wide;
  wide.Send("*2000000000\r\n");
  ExpectRefused(wide.conn()->ReadReply(), "reply refused: array elements 2000000000");
}

TEST(RespReader, ElementsAreCountedAcrossNesting) {
  FakeServer s;
  RespLimits limits;
  limits.max_elements = 10;
  s.conn()->set_limits(limits);
  s.Send("*2\r\n*6\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n*6\r\n");
  ExpectRefused(s.conn()->ReadReply(), "reply refused: array elements 6 (at most 2;");
  // A count near INT64_MAX after a few elements once wrapped the running total negative.
  FakeServer wrap;
  wrap.Send("*3\r\n:1\r\n:1\r\n*9223372036854775806\r\n");
  ExpectRefused(wrap.conn()->ReadReply(), "reply refused: array elements 9223372036854775806");
}

TEST(RespReader, ManyBulksTogetherAreBounded) {
  FakeServer s;
  RespLimits limits;
  limits.max_reply_bytes = 10;
  s.conn()->set_limits(limits);
  s.Send("*3\r\n$4\r\nabcd\r\n$4\r\nefgh\r\n$4\r\nijkl\r\n");
  ExpectRefused(s.conn()->ReadReply(), "reply refused: reply bytes 14 (at most 10;");
}

// Status lines count too: before, only bulks did, and an array of a million 64 KiB lines passed.
TEST(RespReader, ManyStatusLinesTogetherAreBounded) {
  FakeServer s;
  RespLimits limits;
  limits.max_reply_bytes = 1000;
  s.conn()->set_limits(limits);
  std::string reply = "*100\r\n";
  for (int i = 0; i < 100; ++i) reply += "+" + std::string(20, 'x') + "\r\n";
  s.Send(reply);
  ExpectRefused(s.conn()->ReadReply(), "reply refused: reply bytes");
}

// A server whose packets all end mid-line never lets the buffer be consumed whole: consumed
// bytes are dropped as more come, so it stays near one read's size however long it goes on.
// Lines of 1,001 bytes end with a 64 KiB read only once in 1,001 reads (65 MB).
TEST(RespReader, TheBufferStaysBoundedWhenPacketsEndMidLine) {
  FakeServer s;
  const std::string line = "+" + std::string(998, 'x') + "\r\n";
  std::string lines;
  for (int i = 0; i < 20000; ++i) lines += line;  // 20 MB
  s.Send(lines);
  size_t most = 0;
  for (int i = 0; i < 20000; ++i) {
    auto v = s.conn()->ReadReply();
    ASSERT_TRUE(v.ok()) << v.status();
    most = std::max(most, s.conn()->buffered());
  }
  EXPECT_LT(most, 256u << 10);
}

TEST(RespReader, EndlessLinesAreRefused) {
  FakeServer s;
  s.Send("+" + std::string(1 << 20, 'x'));
  ExpectRefused(s.conn()->ReadReply(), "reply refused: line bytes");
}

TEST(RespReader, BulkWithoutItsTerminatorIsMalformed) {
  FakeServer s;
  s.Send("$3\r\nabcXY");
  ExpectRefused(s.conn()->ReadReply(), "malformed reply");
}

TEST(RespReader, AReplyTrickledForeverHitsTheReplyDeadline) {
  FakeServer s;
  RespLimits limits;
  limits.max_reply_time = absl::Milliseconds(300);
  s.conn()->set_limits(limits);
  s.Trickle("*100\r\n:1\r\n", 20);  // each byte in time for the socket timeout, never done
  auto v = s.conn()->ReadReply();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDeadlineExceeded) << v.status();
  EXPECT_TRUE(absl::StrContains(v.status().message(), "redis fake:6379: a reply took longer"))
      << v.status();
}

TEST(RespReader, TruncatedReplyIsAnErrorNotAHang) {
  FakeServer s;
  s.Send("*2\r\n:1\r\n");
  auto v = s.conn()->ReadReply();
  ASSERT_FALSE(v.ok());  // the connection's timeout (200 ms here) ends the wait
  EXPECT_TRUE(absl::StrContains(v.status().message(), "redis fake:6379")) << v.status();
}

TEST(RespConn, PeerGoneSeesACloseOnlyAfterWhatWasSentBeforeIt) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  auto conn = RespConn::Adopt(fds[0], "replica:1", absl::Milliseconds(200));
  EXPECT_FALSE(conn->PeerGone());  // silent: a target still loading
  // 300 KiB of REPLCONF ACKs: more than one call drops, and none of it is a close.
  const std::string ack = EncodeCommand({"REPLCONF", "ACK", "0"});
  std::string acks;
  while (acks.size() < (300u << 10)) acks += ack;
  std::thread sender([&] {
    for (size_t done = 0; done < acks.size();) {
      ssize_t n = send(fds[1], acks.data() + done, acks.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  });
  for (int i = 0; i < 200 && !conn->PeerGone(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  sender.join();
  EXPECT_FALSE(conn->PeerGone());
  close(fds[1]);
  EXPECT_TRUE(conn->PeerGone());
}

}  // namespace
}  // namespace mdb::engine::redis
