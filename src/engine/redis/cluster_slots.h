// A Redis Cluster's answer to CLUSTER SLOTS, checked: the slot ranges and the address of each
// range's master, as a cluster restore sends keys by slot. The answer comes from the restore
// target, which the service trusts no more than a source: a slot outside 0..16383 indexed the
// restore's slot table out of bounds, and an address is connected to with the declared hosts'
// credentials, so it must at least be a host and a port.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/redis/resp.h"

namespace mdb::engine::redis {

inline constexpr int kClusterSlots = 16384;

struct SlotRange {
  int first = 0;  // 0 <= first <= last < kClusterSlots
  int last = 0;
  std::string master;  // host:port
};

// The ranges of `reply` from the node at `node` ("host:port", named in errors; a master announced
// as "" or "?", an unknown endpoint, is at node's host). Entries without a master are
// left out (their slots then have none, which the caller refuses); a range outside the slots, a
// reply that is not an array, or a master that is not host:port is FailedPrecondition.
absl::StatusOr<std::vector<SlotRange>> ParseClusterSlots(const RespValue& reply,
                                                         absl::string_view node);

}  // namespace mdb::engine::redis
