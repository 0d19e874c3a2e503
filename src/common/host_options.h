// A host's engine-specific settings (config `hosts:` entries), read one way by every engine.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace mdb::common {

// The value of `key` in the host's settings, or `fallback`.
std::string HostOption(const HostConfig& host, const std::string& key,
                       const std::string& fallback = "");

// The host's password: `password_file`'s first line (without its line ending) when set, else
// `password`, else empty. An unreadable file is FAILED_PRECONDITION naming the host and the file
// (never an empty password sent instead).
absl::StatusOr<std::string> HostPassword(const HostConfig& host);

}  // namespace mdb::common
