// Writing files around the page cache (O_DIRECT): the repository's packs (storage/posix), which
// are written once and rarely read back, so that they neither evict the host's working set (often
// the database's) nor pay the copy into cold cache pages. A direct write is synchronous, so one
// writer keeps one in flight; restores, which must reach the device's speed, write behind instead
// (io/write_behind.h, BENCHMARKS.md "Restores written behind"). The difference is measured, not
// assumed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "io/stream.h"

namespace mdb::io {

// Direct writes must start at, and be a multiple of, the device's logical block; 4 KiB covers
// every common one. Buffers handed to them are aligned to it too.
inline constexpr size_t kDirectAlign = 4096;

// Turns on O_DIRECT for `fd` where its filesystem allows it (tmpfs does not); whether it did.
bool TryDirect(int fd);

// A buffer of `size` bytes aligned to kDirectAlign (nullptr when memory is short).
std::unique_ptr<char, void (*)(void*)> AlignedBuffer(size_t size);

// pwrite of [p, p + n) at `offset`. With `*direct` (TryDirect said yes; p and offset aligned),
// the whole kDirectAlign blocks go around the cache and the rest (a file's tail) through it, with
// O_DIRECT turned off for the file and `*direct` false from then on. A write the filesystem
// refuses as unaligned (EINVAL) is made through the cache instead. `path` names the file in
// errors.
absl::Status WriteMaybeDirect(int fd, const char* p, size_t n, uint64_t offset, bool* direct,
                              absl::string_view path);

// A sink writing one new file from its start, around the cache where possible (1 MiB aligned
// blocks), then synced at Close. Does not own `fd`.
class DirectFileSink final : public ByteSink {
 public:
  DirectFileSink(int fd, std::string path);
  absl::Status Write(std::string_view data) override;
  absl::Status Close() override;  // the tail, then fsync

 private:
  absl::Status Flush();

  static constexpr size_t kBlock = 1 << 20;
  int fd_;
  std::string path_;
  bool direct_;
  std::unique_ptr<char, void (*)(void*)> buf_;
  size_t used_ = 0;
  uint64_t offset_ = 0;
};

}  // namespace mdb::io
