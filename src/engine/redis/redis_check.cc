// The pre-flight check of a Redis cluster: every host is connected to and authenticated with its
// options, and asked its role; a backup needs one reachable master or linked replica per shard,
// a restore target an empty server. Read-only commands only.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/check_list.h"
#include "engine/redis/redis_conn.h"
#include "engine/redis/redis_engine.h"

namespace mdb::engine::redis {

std::vector<CheckItem> RedisDriver::Check(const common::ClusterConfig& cluster,
                                          const std::atomic<bool>* cancelled) {
  return CheckEveryHost(cluster, [&](const common::HostConfig& host, CheckList* list) {
    CheckList& c = *list;
    auto conn = ConnectHost(host, absl::Seconds(5), cancelled);
    if (!conn.ok()) {
      c.Unreachable("connection", std::string(conn.status().message()),
                    "make the server reachable from this host; for AUTH set the host's user and "
                    "password_file");
      return;
    }
    auto role = GetRole(conn->get());
    if (!role.ok()) {
      c.Unreachable("ROLE", std::string(role.status().message()),
                    "allow the user +role +info +psync +replconf +cluster|nodes (ACL SETUSER)");
      return;
    }
    c.Ok("connection", role->master    ? "master"
                       : role->link_up ? "replica, linked to its master"
                                       : "replica, not linked to its master");
    if (!cluster.restore_target) return;
    // A restore loads a whole snapshot: the target must not hold keys of its own.
    auto keys = (*conn)->Command({"DBSIZE"});
    int64_t n = keys.ok() && keys->type == RespValue::Type::kInteger ? keys->integer : -1;
    if (n != 0) {
      c.Fail("empty", keys.ok() ? absl::StrCat(n, " keys") : std::string(keys.status().message()),
             "restore into a fresh server (FLUSHALL only if its data is not needed)");
    } else {
      c.Ok("empty", "no keys");
    }
  });
}

}  // namespace mdb::engine::redis
