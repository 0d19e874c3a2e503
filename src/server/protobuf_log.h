// Protobuf logs a line for every message it cannot parse (a string field with invalid UTF-8, for
// one): from unauthenticated gRPC requests that is a way to fill the disk (105,153 lines in 8
// minutes of fuzzing). Its log lines are counted instead, and the first of each minute is written
// with the count of those before it.
#pragma once

#include <cstdint>

namespace mdb::server {

// Installs the counting handler for the life of the process.
void CountProtobufLogs();
// Lines protobuf logged since start (for tests and metrics).
int64_t ProtobufLogCount();

}  // namespace mdb::server
