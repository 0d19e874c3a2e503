// The listener's threads: what a slow handler can and cannot hold up.
#include "api/rest/http_listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/match.h"

namespace mdb::api::rest {
namespace {

// A GET of `path` on 127.0.0.1:`port`: the reply's first line, or "" when none came within
// `timeout_s` seconds.
std::string StatusLineOf(int port, const std::string& path, int timeout_s) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval tv{.tv_sec = timeout_s, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n;
           got.find("\r\n") == std::string::npos && (n = read(fd, buf, sizeof(buf))) > 0;)
        got.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return got.substr(0, got.find("\r\n"));
}

// The contract's Cancel is a GET (`/operations/{id}:cancel`), and it writes to the catalog. Before,
// it ran on the io threads like the reads: two cancels against a slow catalog stopped every REST
// answer, /healthz and /readyz included.
TEST(HttpListener, CancelsWaitingOnTheCatalogDoNotHoldTheIoThreads) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> waiting{0};
  HttpListener listener(
      {}, [](const HttpRequest&) { return HttpReply{.status = 0}; },
      [&](const HttpRequest& req) {
        if (absl::EndsWith(req.target, ":cancel")) {
          ++waiting;
          std::unique_lock<std::mutex> lock(mu);
          cv.wait_for(lock, std::chrono::seconds(30), [&] { return release; });
        }
        return HttpReply{.body = "{}"};
      });
  ASSERT_TRUE(listener.Start("127.0.0.1:0").ok());
  const int port = listener.port();
  // As many cancels as the listener has io threads (two), and one more.
  std::vector<std::thread> cancels;
  for (int i = 0; i < 3; ++i) {
    cancels.emplace_back(
        [port, i] { StatusLineOf(port, "/operations/op" + std::to_string(i) + ":cancel", 40); });
  }
  for (int i = 0; i < 500 && waiting.load() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(waiting.load(), 3);
  EXPECT_EQ(StatusLineOf(port, "/healthz", 5), "HTTP/1.1 200 OK");
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : cancels) t.join();
}

}  // namespace
}  // namespace mdb::api::rest
