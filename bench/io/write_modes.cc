// bench/io: the ways a restore can write a large file, on this host's disk, interleaved round by
// round so that the disk's drift falls on all of them alike. Each writes the same non-zero bytes
// in 1 MiB blocks and ends with the file on disk (fsync). Usage:
//   build/bench/write_modes DIR [MIB=1536] [ROUNDS=3]
// Prints a table for BENCHMARKS.md: min / median / max seconds of each way.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "io/direct.h"
#include "io/write_behind.h"

namespace {

constexpr size_t kBlock = 1 << 20;

struct Way {
  const char* name;
  bool direct;
  int threads;
  bool behind;
};

double Run(const Way& way, const std::string& path, size_t blocks) {
  const auto start = std::chrono::steady_clock::now();
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || (way.direct && !mdb::io::TryDirect(fd))) {
    perror(path.c_str());
    exit(1);
  }
  // Several direct writers into one file overlap only where ext4 takes its shared lock: blocks
  // already allocated within the file's size.
  if (way.threads > 1 && fallocate(fd, 0, 0, static_cast<off_t>(blocks * kBlock)) != 0) {
    perror("fallocate");
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < way.threads; ++t) {
    threads.emplace_back([&, t] {
      auto buf = mdb::io::AlignedBuffer(kBlock);
      for (size_t i = 0; i < kBlock; ++i) buf.get()[i] = static_cast<char>('a' + (i * 7 + t) % 26);
      mdb::io::WriteBehind file(fd, path);
      for (size_t b = static_cast<size_t>(t); b < blocks; b += static_cast<size_t>(way.threads)) {
        buf.get()[0] = static_cast<char>(b);  // no two blocks alike
        absl::Status st = way.behind
                              ? file.Write(buf.get(), kBlock, b * kBlock)
                              : (pwrite(fd, buf.get(), kBlock, static_cast<off_t>(b * kBlock)) ==
                                         static_cast<ssize_t>(kBlock)
                                     ? absl::OkStatus()
                                     : absl::UnavailableError(strerror(errno)));
        if (!st.ok()) {
          fprintf(stderr, "%s: %s\n", way.name, st.ToString().c_str());
          exit(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (fsync(fd) != 0) perror("fsync");
  close(fd);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  unlink(path.c_str());
  sync();  // the unlink's discards and the journal, before the next way starts
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR [MIB=1536] [ROUNDS=3]\n", argv[0]);
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/write_modes.tmp";
  const size_t blocks = argc > 2 ? strtoul(argv[2], nullptr, 10) : 1536;
  const int rounds = argc > 3 ? atoi(argv[3]) : 3;
  const std::vector<Way> ways = {
      {"O_DIRECT, one writer (the restore until session 18)", true, 1, false},
      {"O_DIRECT, two writers (fallocated)", true, 2, false},
      {"through the cache, then fsync", false, 1, false},
      {"written behind (io/write_behind.h, the restore now)", false, 1, true},
  };
  std::vector<std::vector<double>> secs(ways.size());
  for (int r = 0; r < rounds; ++r) {
    for (size_t w = 0; w < ways.size(); ++w) {
      // ABCD DCBA ...: neither end of a round is always the same way.
      const size_t i = r % 2 == 0 ? w : ways.size() - 1 - w;
      secs[i].push_back(Run(ways[i], path, blocks));
    }
  }
  printf("| %zu MiB in 1 MiB blocks, then fsync | min / median / max s | MB/s (median) |\n",
         blocks);
  printf("|---|---|---|\n");
  for (size_t i = 0; i < ways.size(); ++i) {
    auto& s = secs[i];
    std::sort(s.begin(), s.end());
    const double median = s[s.size() / 2];
    printf("| %s | %.2f / %.2f / %.2f | %.0f |\n", ways[i].name, s.front(), median, s.back(),
           static_cast<double>(blocks * kBlock) / 1e6 / median);
  }
  return 0;
}
