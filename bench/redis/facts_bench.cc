// bench/redis/facts_bench: what recording a Redis backup's facts costs (issue #18: under 3% of
// the backup's time). The backup hands the RDB to CountRdbKeys through a pipe on a thread of its
// own while the stream goes to the repository; this runs that same path (tee into a pipe, count
// on another thread) over an RDB file, next to a plain read of it, and prints the CPU time the
// counting adds.
// Usage: facts_bench RDB_FILE
#include <malloc.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/redis/rdb_keys.h"
#include "io/pipe.h"
#include "io/stream.h"

namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  // As mdb-backupd runs (src/server/main.cc): freed buffers are kept, not faulted in again.
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  if (argc != 2) {
    std::fprintf(stderr, "usage: facts_bench RDB_FILE\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string rdb = ss.str();
  // Both sources made before any timing: each holds a copy of the file.
  mdb::io::StringSource plain_source(rdb), facts_source(rdb);
  // The read the backup does anyway: 64 KiB at a time out of the source.
  auto plain = [&] {
    mdb::io::StringSource& src = plain_source;
    char buf[65536];
    size_t total = 0;
    for (;;) {
      auto n = src.Read(buf, sizeof(buf));
      if (!n.ok() || *n == 0) break;
      total += *n;
    }
    return total;
  };
  // With the facts: every piece also written into a pipe that CountRdbKeys reads on a thread.
  auto with_facts = [&] {
    mdb::io::StringSource& src = facts_source;
    mdb::io::Pipe pipe(4 << 20);
    uint64_t keys = 0;
    std::thread counter([&] {
      auto facts = mdb::engine::redis::CountRdbKeys(&pipe);
      if (facts.ok()) {
        for (const auto& [db, f] : *facts) keys += f.keys;
      }
      pipe.Abandon();
    });
    char buf[65536];
    bool stopped = false;
    for (;;) {
      auto n = src.Read(buf, sizeof(buf));
      if (!n.ok() || *n == 0) break;
      if (!stopped) stopped = !pipe.Write(std::string_view(buf, *n)).ok();
    }
    pipe.Finish();
    counter.join();
    return keys;
  };
  double c0 = CpuSeconds();
  auto w0 = std::chrono::steady_clock::now();
  size_t bytes = plain();
  double c1 = CpuSeconds();
  auto w1 = std::chrono::steady_clock::now();
  uint64_t keys = with_facts();
  double c2 = CpuSeconds();
  auto w2 = std::chrono::steady_clock::now();
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::printf("rdb %.1f MB, %llu keys counted\n", bytes / 1e6,
              static_cast<unsigned long long>(keys));
  std::printf("plain read: %.3f s wall, %.3f s CPU\n", secs(w0, w1), c1 - c0);
  std::printf("with facts: %.3f s wall, %.3f s CPU\n", secs(w1, w2), c2 - c1);
  std::printf("facts CPU: %.3f s\n", (c2 - c1) - (c1 - c0));
  return 0;
}
