// The TLS files gRPC serves from. gRPC re-reads its certificate files by itself (a file watcher),
// so pointed at the operator's files it would pick up a half-written or broken certificate within
// seconds, before any SIGHUP, and fail every new handshake. It is pointed at private copies
// instead, written only after the files were checked (at start and on SIGHUP), key and
// certificate chain in one file replaced by rename: gRPC never reads a mismatched pair.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace mdb::server {

// Copies the (already checked) files of `tls` into `dir` (created 0700) and returns the config
// that names the copies: cert_file and key_file are the same file, holding the key and the chain.
absl::StatusOr<common::TlsConfig> StageTlsFiles(const common::TlsConfig& tls,
                                                const std::string& dir);

}  // namespace mdb::server
