// Conversions between absl::Time and google.protobuf.Timestamp.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace mdb::common {

google::protobuf::Timestamp ToProto(absl::Time t);
absl::Time FromProto(const google::protobuf::Timestamp& ts);
// Nanoseconds since the epoch: the catalog's sort key for times.
int64_t ToUnixNanos(const google::protobuf::Timestamp& ts);
google::protobuf::Timestamp FromUnixNanos(int64_t nanos);
// "2026-12-06 22:00:00 UTC": how log lines give times (windows are configured in UTC).
std::string UtcText(absl::Time t);

}  // namespace mdb::common
