// Extraction of the tar archives PostgreSQL's BASE_BACKUP streams, straight from a byte stream.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/beneath.h"
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
// durable: call SyncTree when every archive is written). Nothing is ever written outside `dir`:
// names with ".." or absolute ones are refused, no write follows a symbolic link (io::BeneathDir),
// links are allowed only where PostgreSQL makes them (CheckArchiveLink) and are created after
// every other entry. Set-id and sticky bits are dropped. When `owner_uid` is not -1, everything
// created is chowned to it (the database's OS user).
absl::Status ExtractTar(io::ByteSource* source, const std::string& dir, int owner_uid,
                        int owner_gid);

// A symbolic link of an archive: its name under the target, and what it points at.
using ArchiveLink = std::pair<std::string, std::string>;
// DataLoss unless `name` is a tablespace link (pg_tblspc/<oid>), the only links base backups hold.
absl::Status CheckArchiveLink(const std::string& name, const std::string& target);
// Creates `links` under `target` (after everything else), owned by `owner_uid` unless it is -1.
absl::Status CreateArchiveLinks(io::BeneathDir* target, const std::vector<ArchiveLink>& links,
                                int owner_uid, int owner_gid);
// Creates the directory `name` (and missing parents) under `target` with the permission bits
// `mode` (0700 when 0), owned by `owner_uid` unless it is -1.
absl::Status MakeArchiveDir(io::BeneathDir* target, const std::string& name, mode_t mode,
                            int owner_uid, int owner_gid);
// Refusals of io::BeneathDir (a bad name, a link on the way) as the archive's fault: DataLoss.
absl::Status Hostile(absl::Status st);

// Writes all of p[0..n) at `offset` of `fd` (retrying short writes); errors name `path`.
absl::Status WriteAt(int fd, const char* p, size_t n, uint64_t offset, const std::string& path);

// Makes everything written under `dir` durable (syncfs of its filesystem).
absl::Status SyncTree(const std::string& dir);

}  // namespace mdb::engine::greenplum
