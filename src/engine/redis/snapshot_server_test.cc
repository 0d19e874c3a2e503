#include "engine/redis/snapshot_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace mdb::engine::redis {
namespace {

// One connection to the snapshot server, as a peer on the network sees it: `sends` is written
// (then the peer's side is shut for writing, unless `stay_open`), then everything the server
// answers is read until it is done with the connection.
struct Served {
  absl::Status status;
  std::string refused;
  std::string answered;
  bool streamed = false;
  absl::Duration took;
};

Served Serve(const std::string& sends, const std::string& token, bool stay_open = false) {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Served out;
  std::thread peer([&] {
    (void)!send(fds[1], sends.data(), sends.size(), MSG_NOSIGNAL);
    if (!stay_open) shutdown(fds[1], SHUT_WR);
    char buf[4096];
    for (ssize_t n; (n = read(fds[1], buf, sizeof(buf))) > 0;) out.answered.append(buf, n);
    close(fds[1]);
  });
  const absl::Time start = absl::Now();
  {
    auto conn = RespConn::Adopt(fds[0], "10.0.0.9:4242", absl::Seconds(30));
    out.status = ServeSnapshot(
        conn.get(), token, 7,
        [&](io::ByteSink* sink) {
          out.streamed = true;
          return sink->Write("SNAPSHT");
        },
        absl::Milliseconds(300), &out.refused);
  }  // closes fds[0]: the peer's read ends
  out.took = absl::Now() - start;
  peer.join();
  return out;
}

std::string Command(std::initializer_list<std::string> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

constexpr char kToken[] = "0123456789abcdef0123456789abcdef0123456789abcdef";

// What a Redis replica sends with masterauth set: PING, AUTH, REPLCONF..., PSYNC.
TEST(SnapshotServer, TheTargetThatAuthenticatesGetsTheSnapshot) {
  for (const std::string auth : {Command({"AUTH", kToken}),                   // masterauth alone
                                 Command({"auth", "replicator", kToken})}) {  // with masteruser
    Served s = Serve(Command({"PING"}) + auth + Command({"REPLCONF", "listening-port", "6380"}) +
                         Command({"REPLCONF", "capa", "eof", "capa", "psync2"}) +
                         Command({"PSYNC", "?", "-1"}),
                     kToken);
    EXPECT_TRUE(s.status.ok()) << s.status;
    EXPECT_EQ(s.refused, "");
    EXPECT_TRUE(s.streamed);
    EXPECT_EQ(s.answered.substr(0, 17), "+PONG\r\n+OK\r\n+OK\r\n");
    EXPECT_NE(s.answered.find("+FULLRESYNC "), std::string::npos) << s.answered;
    EXPECT_EQ(s.answered.substr(s.answered.size() - 13), "\r\n$7\r\nSNAPSHT");
  }
}

// Anyone else who connects first (a scan, a neighbour on the network) gets nothing of the
// backup, and the restore goes on waiting for its target (a refusal, not a failure), their text
// escaped.
TEST(SnapshotServer, APeerWithoutTheTokenGetsNothing) {
  const std::string psync = Command({"PSYNC", "?", "-1"});
  for (const std::string& sends : {
           psync,                                                 // straight to the snapshot
           Command({"SYNC"}),                                     // the old way
           Command({"REPLCONF", "capa", "eof"}) + psync,          // acknowledged only after AUTH
           Command({"AUTH", "guess"}) + psync,                    // a wrong password
           Command({"AUTH", std::string(kToken) + "0"}) + psync,  // a longer one
           Command({"AUTH"}) + psync,                             // none
           Command({"PING"}) + Command({"PING"}) + Command({"PING"}) + Command({"PING"}) + psync,
           std::string("PSYNC ? -1\r\n"),                        // inline, not RESP
           Command({"AUTH", std::string(2000, 'x')}) + psync,    // more than a password holds
           Command({"FAKE\nmdb-backupd: forged line"}) + psync,  // text for the log
           std::string(),                                        // connects and says nothing
       }) {
    for (bool stay_open : {false, true}) {
      Served s = Serve(sends, kToken, stay_open);
      EXPECT_TRUE(s.status.ok()) << sends << s.status;
      EXPECT_FALSE(s.streamed) << sends;
      EXPECT_EQ(s.answered.find("FULLRESYNC"), std::string::npos) << sends;
      EXPECT_EQ(s.answered.find("SNAPSHT"), std::string::npos) << sends;
      EXPECT_EQ(s.refused.rfind("10.0.0.9:4242 is not the restore's target: ", 0), 0u)
          << sends << s.refused;
      EXPECT_EQ(s.refused.find('\n'), std::string::npos) << s.refused;
      // Silence holds the service no longer than the time to authenticate (300 ms here).
      EXPECT_LT(s.took, absl::Seconds(3)) << sends;
    }
  }
}

// A failure after authentication is the restore's own (the repository's, say): an error, never
// taken for a stranger at the door (the restore would wait on, and fail later with the wrong
// reason).
TEST(SnapshotServer, AFailureOfTheStreamIsAnErrorNotARefusal) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const std::string sends = Command({"AUTH", kToken}) + Command({"PSYNC", "?", "-1"});
  ASSERT_EQ(send(fds[1], sends.data(), sends.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(sends.size()));
  auto conn = RespConn::Adopt(fds[0], "10.0.0.9:4242", absl::Seconds(5));
  std::string refused = "not cleared";
  absl::Status st = ServeSnapshot(
      conn.get(), kToken, 7,
      [](io::ByteSink*) { return absl::PermissionDeniedError("s3: 403 AccessDenied"); },
      absl::Seconds(5), &refused);
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
  EXPECT_EQ(refused, "");
  close(fds[1]);
}

// A peer that sends PING and is gone before the answer (a reset) is refused like any other
// stranger: the write's failure must not fail the restore.
TEST(SnapshotServer, APeerGoneBeforeItsPongIsRefusedNotAFailure) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const std::string ping = Command({"PING"});
  ASSERT_EQ(send(fds[1], ping.data(), ping.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(ping.size()));
  close(fds[1]);  // the PING stays readable; the PONG cannot be written
  auto conn = RespConn::Adopt(fds[0], "10.0.0.9:4242", absl::Seconds(5));
  std::string refused;
  absl::Status st = ServeSnapshot(
      conn.get(), kToken, 7, [](io::ByteSink*) { return absl::OkStatus(); }, absl::Seconds(5),
      &refused);
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_NE(refused, "");
}

TEST(SnapshotServer, TokensAreFreshAndPasswordShaped) {
  const std::string a = NewReplicaToken(), b = NewReplicaToken();
  EXPECT_EQ(a.size(), 48u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

}  // namespace
}  // namespace mdb::engine::redis
