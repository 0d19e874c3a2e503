// Protobuf logs a line for every message it cannot parse (a string field with invalid UTF-8, for
// one), and gRPC one for every failed TLS handshake: from unauthenticated clients that is a way to
// fill the disk (105,153 protobuf lines in 8 minutes of fuzzing). Their log lines are counted
// instead, and the first of each minute (per library) is written with the count of those before.
#pragma once

#include <cstdint>

namespace mdb::server {

// Installs the counting handlers (protobuf's and gRPC's) for the life of the process.
void CountLibraryLogs();
// Lines protobuf and gRPC logged since start (for tests and metrics).
int64_t LibraryLogCount();

}  // namespace mdb::server
