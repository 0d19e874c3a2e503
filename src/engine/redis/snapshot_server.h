// The master's side of one full resync, for a restore (redis_restore.cc): answers a replica's
// handshake and streams a snapshot to it, but only to a replica that authenticated with a token
// the restore set as the target's `masterauth` just before telling it REPLICAOF. The listener is
// reachable from the network for as long as the target takes to connect back: without the token,
// whoever connected first would be sent the backup.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/redis/resp.h"
#include "io/stream.h"

namespace mdb::engine::redis {

// A token for `masterauth`: random, hex (Redis passwords are strings without spaces).
std::string NewReplicaToken();

// Serves one connection: PING is answered before authentication (a replica sends it first);
// AUTH must carry `token` as its last argument (masteruser, if the target has one, before it)
// within `auth_within` of the start; then REPLCONF and the like are acknowledged until
// PSYNC/SYNC, answered with FULLRESYNC and the `size` bytes `stream` writes (`counter`, if given,
// counts them). A peer that does not authenticate, breaks the protocol or stays silent before it
// does is refused: OK with `*refused` saying why, and nothing of the snapshot sent. An error is
// a failure after authentication (the stream's, the connection's) or a cancel.
absl::Status ServeSnapshot(RespConn* replica, std::string_view token, uint64_t size,
                           const std::function<absl::Status(io::ByteSink*)>& stream,
                           absl::Duration auth_within, std::string* refused,
                           std::atomic<int64_t>* counter = nullptr);

}  // namespace mdb::engine::redis
