// Timestamp conversions; nanosecond precision is kept end to end (the REST mapping prints it).
#include "common/time_util.h"

namespace mdb::common {

google::protobuf::Timestamp ToProto(absl::Time t) { return FromUnixNanos(absl::ToUnixNanos(t)); }

absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixNanos(ToUnixNanos(ts));
}

int64_t ToUnixNanos(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000'000 + ts.nanos();
}

google::protobuf::Timestamp FromUnixNanos(int64_t nanos) {
  google::protobuf::Timestamp ts;
  int64_t seconds = nanos / 1'000'000'000;
  int64_t rest = nanos % 1'000'000'000;
  if (rest < 0) {  // Timestamp.nanos must be non-negative, even before the epoch.
    rest += 1'000'000'000;
    --seconds;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest));
  return ts;
}

std::string UtcText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

}  // namespace mdb::common
