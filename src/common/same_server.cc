#include "common/same_server.h"

#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <map>

#include "absl/strings/str_cat.h"

namespace mdb::common {
namespace {

// "host:port", "[v6]:port", or a bare host (no port: it matches every port of that host).
std::pair<std::string, std::string> SplitAddress(const std::string& address) {
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    if (close != std::string::npos) {
      std::string port =
          close + 1 < address.size() && address[close + 1] == ':' ? address.substr(close + 2) : "";
      return {address.substr(1, close - 1), port};
    }
  }
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || address.find(':') != colon) return {address, ""};
  return {address.substr(0, colon), address.substr(colon + 1)};
}

std::string Numeric(const sockaddr* sa, socklen_t len) {
  char host[NI_MAXHOST];
  if (getnameinfo(sa, len, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) != 0) return "";
  return host;
}

absl::StatusOr<std::vector<std::string>> Resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::vector<std::string> out;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0) {
    std::string why = absl::StrCat("resolving '", host, "': ", gai_strerror(rc));
    if (rc == EAI_NONAME || rc == EAI_NODATA) return absl::NotFoundError(why);
    return absl::UnavailableError(why);
  }
  for (addrinfo* a = res; a; a = a->ai_next) {
    std::string ip = Numeric(a->ai_addr, a->ai_addrlen);
    if (!ip.empty()) out.push_back(ip);
  }
  freeaddrinfo(res);
  if (out.empty()) return absl::NotFoundError(absl::StrCat("'", host, "' has no address"));
  return out;
}

std::set<std::string> ThisHost() {
  std::set<std::string> out = {"127.0.0.1", "::1", "0.0.0.0", "::"};
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    const int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    std::string ip =
        Numeric(i->ifa_addr, family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    if (!ip.empty()) out.insert(ip);
  }
  freeifaddrs(list);
  return out;
}

// What a host entry may reach: "ip|port" keys, every address of this host as one ("this host"),
// the whole 127/8 too, IPv4-mapped IPv6 addresses as their IPv4 one. A name that does not exist
// is kept as written when `as_written` (another cluster's), else it is the error.
absl::StatusOr<std::set<std::string>> Keys(const std::string& address, const ServerIdentity& id,
                                           bool as_written) {
  auto [host, port] = SplitAddress(address);
  absl::StatusOr<std::vector<std::string>> ips = id.resolve(host);
  if (absl::IsNotFound(ips.status()) && as_written) ips = std::vector<std::string>{"name:" + host};
  if (!ips.ok()) return ips.status();
  std::set<std::string> keys;
  for (std::string ip : *ips) {
    if (ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos) ip = ip.substr(7);
    const bool local = id.this_host.count(ip) > 0 || ip.rfind("127.", 0) == 0;
    keys.insert(absl::StrCat(local ? "this host" : ip, "|", port));
  }
  return keys;
}

bool Overlap(const std::set<std::string>& a, const std::set<std::string>& b) {
  for (const auto& k : a) {
    if (b.count(k)) return true;
    // A bare host (no port) matches every port of the same address.
    const std::string ip = k.substr(0, k.find('|'));
    const bool bare = k.back() == '|';
    for (const auto& other : b) {
      if (other.substr(0, other.find('|')) != ip) continue;
      if (bare || other.back() == '|') return true;
    }
  }
  return false;
}

}  // namespace

ServerIdentity SystemServerIdentity() { return {.resolve = Resolve, .this_host = ThisHost()}; }

absl::StatusOr<std::string> SharedServer(const ClusterConfig& scratch,
                                         const std::vector<ClusterConfig>& others,
                                         const ServerIdentity& identity) {
  ServerIdentity id = identity;
  if (!id.resolve) id.resolve = Resolve;
  if (id.this_host.empty()) id.this_host = ThisHost();
  std::map<std::string, std::set<std::string>> mine;  // scratch address -> keys
  const std::string apart = "; a scratch cluster is emptied only when it can be told apart";
  for (const auto& shard : scratch.shards) {
    for (const auto& h : shard.hosts) {
      auto keys = Keys(h.address, id, /*as_written=*/false);
      if (absl::IsNotFound(keys.status())) {
        return absl::FailedPreconditionError(
            absl::StrCat("scratch cluster '", scratch.id, "': ", keys.status().message(), apart));
      }
      if (!keys.ok()) return absl::UnavailableError(absl::StrCat(keys.status().message(), apart));
      mine[h.address] = *std::move(keys);
    }
  }
  for (const auto& c : others) {
    if (c.id == scratch.id) continue;
    for (const auto& shard : c.shards) {
      for (const auto& h : shard.hosts) {
        auto keys = Keys(h.address, id, /*as_written=*/true);
        if (!keys.ok()) {
          return absl::UnavailableError(
              absl::StrCat("cluster '", c.id, "': ", keys.status().message(), apart));
        }
        const std::set<std::string>& theirs = *keys;
        for (const auto& [address, keys] : mine) {
          if (Overlap(keys, theirs)) {
            return absl::StrCat("cluster '", c.id, "' host ", h.address,
                                " may be the scratch host ", address);
          }
        }
      }
    }
  }
  return std::string();
}

}  // namespace mdb::common
