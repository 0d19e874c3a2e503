// Extraction of the tar archives PostgreSQL's BASE_BACKUP streams, straight from a byte stream.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "io/stream.h"

namespace mdb::engine::greenplum {

// Writes the files, directories and symlinks of the ustar stream `source` under `dir`, fsyncing
// every file. Entries that would escape `dir` ("..", absolute paths) are refused. When `owner_uid`
// is not -1, everything created is chowned to it (the database's OS user).
absl::Status ExtractTar(io::ByteSource* source, const std::string& dir, int owner_uid,
                        int owner_gid);

}  // namespace mdb::engine::greenplum
