// Extraction of the tar archives PostgreSQL's BASE_BACKUP streams, straight from a byte stream.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/stream.h"

namespace mdb::engine::greenplum {

// One tar entry's header. `type`: '0' file, '5' directory, '2' symlink; others are skipped.
struct TarEntry {
  std::string name;  // with the ustar prefix, normalized; never absolute, never above the root
  uint64_t size = 0;
  int mode = 0;
  char type = '0';
  std::string link;  // symlink target
};

// Reads the next header; nullopt at the end of the archive. DataLoss for a truncated header or an
// entry escaping the archive's root. The caller reads the entry's data (then SkipTarPadding).
absl::StatusOr<std::optional<TarEntry>> ReadTarHeader(io::ByteSource* source);
// Skips the padding after `size` bytes of entry data.
absl::Status SkipTarPadding(io::ByteSource* source, uint64_t size);

// Writes the files, directories and symlinks of the ustar stream `source` under `dir` (not yet
// durable: call SyncTree when every archive is written). Entries that would escape `dir` ("..",
// absolute paths) are refused. When `owner_uid` is not -1, everything created is chowned to it (the
// database's OS user).
absl::Status ExtractTar(io::ByteSource* source, const std::string& dir, int owner_uid,
                        int owner_gid);

// Writes all of p[0..n) at `offset` of `fd` (retrying short writes); errors name `path`.
absl::Status WriteAt(int fd, const char* p, size_t n, uint64_t offset, const std::string& path);

// Makes everything written under `dir` durable (syncfs of its filesystem).
absl::Status SyncTree(const std::string& dir);

}  // namespace mdb::engine::greenplum
