// The TLS files gRPC serves from. gRPC re-reads its certificate files by itself (a file watcher),
// so pointed at the operator's files it would pick up a half-written or broken certificate within
// seconds, before any SIGHUP, and fail every new handshake. It is pointed at private copies
// instead: the operator's files are read once (at start and on SIGHUP) into new copies, the copies
// are checked, and only then renamed into place, key and certificate chain in one file: gRPC never
// reads a mismatched pair or bytes nobody checked. The REST listener loads the same copies.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace mdb::server {

// Copies the files of `tls` into `dir` (created 0700; refused if it is anyone else's or open to
// others), runs `check` on the new copies, and only when it passes renames them into place.
// Returns the config that names the copies: cert_file and key_file are the same file, holding the
// key and the chain.
absl::StatusOr<common::TlsConfig> StageTlsFiles(
    const common::TlsConfig& tls, const std::string& dir,
    const std::function<absl::Status(const common::TlsConfig&)>& check);

// Removes the copies from `dir` (TLS turned off): no stale key stays beside the catalog.
void RemoveStagedTlsFiles(const std::string& dir);

}  // namespace mdb::server
