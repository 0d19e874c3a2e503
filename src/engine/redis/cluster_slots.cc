#include "engine/redis/cluster_slots.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace mdb::engine::redis {
namespace {

// What an IP address or a DNS name (Redis 7 may announce either) is made of; IPv6 is bare.
bool HostChars(absl::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
        c != '_') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<SlotRange>> ParseClusterSlots(const RespValue& reply,
                                                         absl::string_view node) {
  auto bad = [&](absl::string_view what) {
    return absl::FailedPreconditionError(absl::StrCat(
        "target node ", node, " answered CLUSTER SLOTS with ", what,
        ": not a Redis Cluster node to restore into (check the restore target's hosts)"));
  };
  if (reply.type != RespValue::Type::kArray) return bad("something other than an array");
  std::vector<SlotRange> ranges;
  for (const auto& range : reply.array) {
    if (range.array.size() < 3 || range.array[2].array.size() < 2) continue;
    const int64_t first = range.array[0].integer, last = range.array[1].integer;
    if (first < 0 || last < first || last >= kClusterSlots) {
      return bad(
          absl::StrCat("the slot range ", first, "-", last, ", outside 0-", kClusterSlots - 1));
    }
    std::string host = range.array[2].array[0].str;
    // Redis 7 says "" or "?" for an endpoint it does not know: the address that was asked.
    if (host.empty() || host == "?") host = std::string(node.substr(0, node.rfind(':')));
    const int64_t port = range.array[2].array[1].integer;
    if (!HostChars(host) || port < 1 || port > 65535) {
      return bad(absl::StrCat("a master '", absl::string_view(host).substr(0, 80), "' port ", port,
                              ", not a host and a port"));
    }
    ranges.push_back({.first = static_cast<int>(first),
                      .last = static_cast<int>(last),
                      .master = absl::StrCat(host, ":", port)});
  }
  return ranges;
}

}  // namespace mdb::engine::redis
