#include "engine/mongodb/sharded.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/host_options.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/mongodb/mongo_util.h"

namespace mdb::engine::mongodb {
namespace {

// Shard names become repository stream names; hosts become connection strings.
bool SafeName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

bool SafeHost(const std::string& host) {
  size_t colon = host.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 || host.size() > 260 ||
      !absl::SimpleAtoi(host.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return false;
  }
  for (char c : host.substr(0, colon)) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' &&
        c != ':' && c != '[' && c != ']') {
      return false;
    }
  }
  return true;
}

}  // namespace

bool DiscoversShards(const common::ClusterConfig& cluster) {
  return cluster.shards.size() == 1 && cluster.shards.front().hosts.size() == 1 &&
         common::HostOption(cluster.shards.front().hosts.front(), "discover_shards") == "true";
}

absl::StatusOr<std::vector<common::ShardConfig>> ShardsFromListShards(
    const bson_t* reply, const common::HostConfig& router) {
  auto bad = [](const std::string& what) {
    return absl::FailedPreconditionError(absl::StrCat("listShards: ", what));
  };
  bson_iter_t it, shards;
  if (!bson_iter_init_find(&it, reply, "shards") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &shards)) {
    return bad("the reply has no 'shards' list");
  }
  common::HostConfig base = router;
  base.options.erase("discover_shards");
  std::vector<common::ShardConfig> out;
  std::set<std::string> names;
  while (bson_iter_next(&shards)) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&shards)) {
      return bad("a shard entry is not a document");
    }
    uint32_t len;
    const uint8_t* data;
    bson_iter_document(&shards, &len, &data);
    bson_t doc;
    if (!bson_init_static(&doc, data, len)) return bad("a shard entry is malformed");
    std::string name = GetString(&doc, "_id"), host = GetString(&doc, "host");
    if (!SafeName(name)) return bad(absl::StrCat("shard name '", name.substr(0, 80), "'"));
    if (!names.insert(name).second) return bad(absl::StrCat("shard '", name, "' is listed twice"));
    // "<replica set>/<host:port>,<host:port>" (a shard is a replica set since MongoDB 3.6).
    size_t slash = host.find('/');
    std::string members = slash == std::string::npos ? host : host.substr(slash + 1);
    common::ShardConfig s{.name = name, .hosts = {}};
    for (absl::string_view m : absl::StrSplit(members, ',', absl::SkipEmpty())) {
      std::string address(m);
      if (!SafeHost(address)) {
        return bad(absl::StrCat("shard '", name, "' has a host '", address.substr(0, 80), "'"));
      }
      common::HostConfig h = base;
      h.address = address;
      s.hosts.push_back(std::move(h));
    }
    if (s.hosts.empty()) return bad(absl::StrCat("shard '", name, "' has no host"));
    out.push_back(std::move(s));
  }
  if (out.empty()) return bad("the cluster has no shard");
  return out;
}

absl::StatusOr<std::unique_ptr<BalancerPause>> BalancerPause::Start(RunCommand run) {
  std::unique_ptr<BalancerPause> pause(new BalancerPause(std::move(run)));
  ASSIGN_OR_RETURN(Bson status, pause->run_("admin", R"({"balancerStatus": 1})"));
  std::string mode = GetString(status.get(), "mode");
  if (mode.empty()) {
    return absl::DataLossError("balancerStatus answered without a 'mode'");
  }
  if (mode == "off") return pause;
  pause->was_running_ = true;
  // Waits for a migration in progress to end; longer than that is a cluster to look at.
  auto stopped = pause->run_("admin", R"({"balancerStop": 1, "maxTimeMS": 300000})");
  if (!stopped.ok()) {
    absl::Status resumed = pause->Resume();  // its mode may already say off
    return common::WithContext(
        stopped.status(),
        absl::StrCat(
            "stopping the balancer",
            resumed.ok() ? "" : absl::StrCat(" (and starting it again: ", resumed.message(), ")")));
  }
  return pause;
}

absl::Status BalancerPause::Resume() {
  if (resumed_ || !was_running_) return absl::OkStatus();
  resumed_ = true;
  return run_("admin", R"({"balancerStart": 1, "maxTimeMS": 60000})").status();
}

BalancerPause::~BalancerPause() {
  if (absl::Status st = Resume(); !st.ok()) {
    common::Log(common::LogLevel::kError, "mongodb",
                absl::StrCat("the balancer could not be started again after the backup: ",
                             st.message(), "; start it with sh.startBalancer()"));
  }
}

}  // namespace mdb::engine::mongodb
