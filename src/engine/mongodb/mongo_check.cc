// The pre-flight check of a MongoDB cluster: every host is connected to with its options
// (authentication included) and asked what it is; a backup needs to list databases (the
// `backup` built-in role or readAnyDatabase), a restore target must hold no user database.
// Without a replica set there is no oplog: the backup is consistent per collection only.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/host_options.h"
#include "engine/check_list.h"
#include "engine/mongodb/mongo_conn.h"
#include "engine/mongodb/mongo_engine.h"
#include "engine/mongodb/sharded.h"

namespace mdb::engine::mongodb {

std::vector<CheckItem> MongoDriver::Check(const common::ClusterConfig& cluster,
                                          const std::atomic<bool>* cancelled) {
  return CheckEveryHost(cluster, [&](const common::HostConfig& host, CheckList* list) {
    CheckList& c = *list;
    auto conn = ConnectHost(host, absl::Seconds(10), cancelled);
    if (!conn.ok()) {
      c.Unreachable(
          "connection", std::string(conn.status().message()),
          "make the server reachable from this host; check the host's user, password_file "
          "and auth_source");
      return;
    }
    auto info = Describe(conn->get());
    if (!info.ok()) {
      c.Unreachable("hello", std::string(info.status().message()),
                    "upgrade to MongoDB 4.4 or later");
      return;
    }
    if (DiscoversShards(cluster)) {  // a router: it lists the shards, whose members it names
      if (!info->router) {
        c.Fail("mongos", "not a router (hello says no 'isdbgrid')",
               "declare the cluster's mongos with discover_shards, or a replica set's members "
               "as a shard without it");
        return;
      }
      auto listed = conn->get()->Command("admin", R"({"listShards": 1})");
      auto shards = listed.ok() ? ShardsFromListShards(listed->get(), host)
                                : absl::StatusOr<std::vector<common::ShardConfig>>(listed.status());
      if (!shards.ok()) {
        c.Fail("listShards", std::string(shards.status().message()),
               absl::StrCat("db.getSiblingDB('admin').grantRolesToUser('",
                            common::HostOption(host, "user", "<user>"),
                            "', ['backup', 'clusterMonitor', 'clusterManager'])"));
        return;
      }
      std::vector<std::string> names;
      for (const auto& s : *shards) names.push_back(s.name);
      c.Ok("mongos",
           absl::StrCat("MongoDB ", info->version, ", shards ", absl::StrJoin(names, ", ")));
      return;
    }
    c.Ok("connection",
         absl::StrCat("MongoDB ", info->version,
                      info->set_name.empty()
                          ? ", standalone"
                          : absl::StrCat(", replica set ", info->set_name,
                                         info->primary ? " (primary)" : " (secondary)")));
    if (info->set_name.empty() && !cluster.restore_target) {
      c.Warn("oplog",
             "a standalone server has no oplog: collections are copied one by one, "
             "not at one point in time",
             "run the server as a (one-member) replica set: replication.replSetName");
    }
    const std::string user = common::HostOption(host, "user", "<user>");
    auto dbs = UserDatabases(conn->get());
    if (!dbs.ok()) {
      c.Unreachable("listDatabases", std::string(dbs.status().message()),
                    absl::StrCat("db.getSiblingDB('admin').grantRolesToUser('", user,
                                 cluster.restore_target ? "', ['restore'])" : "', ['backup'])"));
    } else if (cluster.restore_target && !dbs->empty()) {
      c.Fail("empty", absl::StrCat("holds ", absl::StrJoin(*dbs, ", ")),
             "restore into a server without user databases");
    } else {
      c.Ok("listDatabases", absl::StrCat(dbs->size(), " user databases"));
    }
  });
}

}  // namespace mdb::engine::mongodb
