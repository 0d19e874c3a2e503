#include "engine/mongodb/sharded.h"

#include <gtest/gtest.h>

#include "engine/mongodb/oplog_apply.h"

namespace mdb::engine::mongodb {
namespace {

const common::HostConfig kRouter{
    .address = "mongos1:27017",
    .options = {{"discover_shards", "true"}, {"user", "backup"}, {"password_file", "/etc/pw"}}};

Bson Json(const std::string& json) {
  auto b = Bson::FromJson(json);
  EXPECT_TRUE(b.ok()) << json;
  return b.ok() ? *b : Bson();
}

// listShards as mongos 7.0 answers it (recorded, cluster-time fields trimmed).
constexpr char kListShards[] = R"({
  "shards": [
    {"_id": "shard01", "host": "shard01/db1.example:27018,db2.example:27018,db3.example:27018",
     "state": 1, "topologyTime": {"$timestamp": {"t": 1701600000, "i": 3}}},
    {"_id": "shard02", "host": "shard02/db4.example:27018", "state": 1, "draining": true,
     "topologyTime": {"$timestamp": {"t": 1701600100, "i": 1}}}],
  "ok": 1})";

TEST(ListShards, EachShardIsItsReplicaSetsMembersWithTheRoutersSettings) {
  auto shards = ShardsFromListShards(Json(kListShards).get(), kRouter);
  ASSERT_TRUE(shards.ok()) << shards.status();
  ASSERT_EQ(shards->size(), 2u);
  EXPECT_EQ((*shards)[0].name, "shard01");
  ASSERT_EQ((*shards)[0].hosts.size(), 3u);
  EXPECT_EQ((*shards)[0].hosts[2].address, "db3.example:27018");
  EXPECT_EQ((*shards)[0].hosts[0].options.at("user"), "backup");
  EXPECT_EQ((*shards)[0].hosts[0].options.at("password_file"), "/etc/pw");
  EXPECT_FALSE((*shards)[0].hosts[0].options.count("discover_shards"));
  EXPECT_EQ((*shards)[1].hosts.front().address, "db4.example:27018");
}

TEST(ListShards, WhatCannotBeAShardIsRefused) {
  for (const char* reply : {
           R"({"ok": 1})",
           R"({"shards": [], "ok": 1})",
           R"({"shards": [{"_id": "../x", "host": "rs/h:1"}]})",
           R"({"shards": [{"_id": "a", "host": "rs/h:1"}, {"_id": "a", "host": "rs/h:2"}]})",
           R"({"shards": [{"_id": "a", "host": "rs/h:1?authSource=evil"}]})",
           R"({"shards": [{"_id": "a", "host": "rs/h"}]})",
           R"({"shards": [{"_id": "a", "host": "rs/"}]})",
           R"({"shards": [{"_id": "a", "host": "rs/h:99999"}]})",
           R"({"shards": ["a"]})",
       }) {
    auto shards = ShardsFromListShards(Json(reply).get(), kRouter);
    EXPECT_EQ(shards.status().code(), absl::StatusCode::kFailedPrecondition) << reply;
  }
}

// A router that answers from a script and records what it was asked.
struct ScriptedRouter {
  std::map<std::string, absl::StatusOr<std::string>> replies;  // command name -> reply
  std::vector<std::string> asked;
  RunCommand runner() {
    return [this](const std::string& db, const std::string& cmd) -> absl::StatusOr<Bson> {
      std::string name = cmd.substr(2, cmd.find('"', 2) - 2);
      asked.push_back(name);
      auto it = replies.find(name);
      if (it == replies.end()) return absl::UnimplementedError(name);
      if (!it->second.ok()) return it->second.status();
      return Json(*it->second);
    };
  }
};

TEST(BalancerPause, ARunningBalancerIsStoppedAndStartedAgain) {
  ScriptedRouter router;
  router.replies = {{"balancerStatus", R"({"mode": "full", "inBalancerRound": true, "ok": 1})"},
                    {"balancerStop", R"({"ok": 1})"},
                    {"balancerStart", R"({"ok": 1})"}};
  {
    auto pause = BalancerPause::Start(router.runner());
    ASSERT_TRUE(pause.ok()) << pause.status();
    EXPECT_TRUE((*pause)->was_running());
    EXPECT_EQ(router.asked, (std::vector<std::string>{"balancerStatus", "balancerStop"}));
  }  // the backup failed, or ended without Resume: started again all the same
  EXPECT_EQ(router.asked.back(), "balancerStart");
  EXPECT_EQ(router.asked.size(), 3u);
}

TEST(BalancerPause, ABalancerThatWasOffIsLeftOff) {
  ScriptedRouter router;
  router.replies = {{"balancerStatus", R"({"mode": "off", "inBalancerRound": false, "ok": 1})"}};
  {
    auto pause = BalancerPause::Start(router.runner());
    ASSERT_TRUE(pause.ok());
    EXPECT_TRUE((*pause)->Resume().ok());
  }
  EXPECT_EQ(router.asked, std::vector<std::string>{"balancerStatus"});
}

TEST(BalancerPause, AStopThatFailsStartsItAgainAndFailsTheBackup) {
  ScriptedRouter router;
  router.replies = {{"balancerStatus", R"({"mode": "full", "ok": 1})"},
                    {"balancerStop", absl::DeadlineExceededError("operation exceeded time limit")},
                    {"balancerStart", R"({"ok": 1})"}};
  auto pause = BalancerPause::Start(router.runner());
  EXPECT_EQ(pause.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(pause.status().message().find("stopping the balancer"), std::string::npos);
  EXPECT_EQ(router.asked.back(), "balancerStart");
  // And a status without a mode is no status.
  router.replies["balancerStatus"] = R"({"ok": 1})";
  EXPECT_EQ(BalancerPause::Start(router.runner()).status().code(), absl::StatusCode::kDataLoss);
}

TEST(RoutedReplay, WritesCarryTheShardKeyAndMigrationsAreSkipped) {
  ShardKeys keys{{"shop.orders", {"customer", "meta.region"}}};
  auto plan = [&](const std::string& json) { return PlanEntry(Json(json).bytes(), &keys); };
  auto insert = plan(R"({"op": "i", "ns": "shop.orders",
                         "o": {"_id": 1, "customer": "c7", "meta": {"region": "eu"}, "n": 2}})");
  ASSERT_TRUE(insert.ok()) << insert.status();
  EXPECT_EQ(insert->filter.Json(),
            Json(R"({"_id": 1, "customer": "c7", "meta.region": "eu"})").Json());
  auto update = plan(R"({"op": "u", "ns": "shop.orders", "o2": {"_id": 1, "customer": "c7"},
                         "o": {"$v": 2, "diff": {"u": {"n": 3}}}})");
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(update->filter.Json(), Json(R"({"_id": 1, "customer": "c7"})").Json());
  auto del = plan(R"({"op": "d", "ns": "shop.orders", "o": {"_id": 1, "customer": "c7"}})");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->filter.Json(), Json(R"({"_id": 1, "customer": "c7"})").Json());
  // A chunk moving: the recipient's inserts and the donor's deletes change no data.
  auto moved = plan(R"({"op": "i", "ns": "shop.orders", "fromMigrate": true,
                        "o": {"_id": 9, "customer": "c1"}})");
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->kind, OplogStep::kSkip);
  // An unsharded collection of the same cluster: by _id, as on a replica set.
  auto plain = plan(R"({"op": "u", "ns": "shop.notes", "o2": {"_id": 4, "x": 1},
                        "o": {"$set": {"y": 2}}})");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->filter.Json(), Json(R"({"_id": 4})").Json());
}

}  // namespace
}  // namespace mdb::engine::mongodb
