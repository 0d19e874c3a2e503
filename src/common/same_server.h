// Whether a scratch cluster's servers may be another declared cluster's, by what their addresses
// resolve to at the moment a drill is about to empty it. The config's load compares addresses as
// written; this also catches `localhost` against 127.0.0.1, a name against its IP, and an
// address of this host against the loopback (a server listening on all addresses answers at
// each of them).
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace mdb::common {

// Every IP address (text) a host name resolves to: NotFound when the name does not exist,
// Unavailable when it cannot be told now (the resolver down).
using ResolveHost =
    std::function<absl::StatusOr<std::vector<std::string>>(const std::string& host)>;

struct ServerIdentity {
  ResolveHost resolve;              // getaddrinfo when null
  std::set<std::string> this_host;  // this host's addresses (getifaddrs) when empty
};

// The system's: getaddrinfo and getifaddrs (loopback included).
ServerIdentity SystemServerIdentity();

// "cluster 'X' host H may be the scratch host S" for the first host of `others` that may be the
// same server as a host of `scratch`; "" when none. Nothing may be emptied that cannot be told
// apart: FailedPrecondition when a scratch host's name does not exist, Unavailable when any name
// cannot be resolved now. Only another cluster's name that does not exist (NXDOMAIN) is compared
// as written.
absl::StatusOr<std::string> SharedServer(const ClusterConfig& scratch,
                                         const std::vector<ClusterConfig>& others,
                                         const ServerIdentity& identity);

}  // namespace mdb::common
