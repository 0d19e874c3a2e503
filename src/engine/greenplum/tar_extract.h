// Extraction of the tar archives PostgreSQL's BASE_BACKUP streams, straight from a byte stream.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "io/stream.h"

namespace mdb::engine::greenplum {

// Writes the files, directories and symlinks of the ustar stream `source` under `dir` (not yet
// durable: call SyncTree when every archive is written). Entries that would escape `dir` ("..",
// absolute paths) are refused. When `owner_uid` is not -1, everything created is chowned to it (the
// database's OS user).
absl::Status ExtractTar(io::ByteSource* source, const std::string& dir, int owner_uid,
                        int owner_gid);

// Makes everything written under `dir` durable (syncfs of its filesystem).
absl::Status SyncTree(const std::string& dir);

}  // namespace mdb::engine::greenplum
