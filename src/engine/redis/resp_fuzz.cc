// libFuzzer target: any bytes a Redis server could send in reply (scripts/fuzz.sh).
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "engine/redis/resp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 0;
  // The whole input fits the socket buffer (inputs are at most a few KiB): write it, close, parse.
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fds[1], data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fds[1]);
  auto conn = mdb::engine::redis::RespConn::Adopt(fds[0], "fuzz:6379", absl::Seconds(1));
  for (int i = 0; i < 64; ++i) {
    if (!conn->ReadReply().ok()) break;
  }
  return 0;
}
