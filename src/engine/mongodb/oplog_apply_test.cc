#include "engine/mongodb/oplog_apply.h"

#include <gtest/gtest.h>

namespace mdb::engine::mongodb {
namespace {

absl::StatusOr<OplogStep> Plan(const std::string& json) {
  auto e = Bson::FromJson(json);
  if (!e.ok()) return e.status();
  return PlanEntry(e->bytes());
}

TEST(PlanEntry, InsertBecomesUpsertById) {
  auto s = Plan(R"({"op": "i", "ns": "shop.orders", "o": {"_id": 7, "n": 1}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->kind, OplogStep::kUpsert);
  EXPECT_EQ(s->db, "shop");
  EXPECT_EQ(s->collection, "orders");
  EXPECT_EQ(s->filter.Json(), Bson::FromJson(R"({"_id": 7})")->Json());
  EXPECT_EQ(s->doc.Json(), Bson::FromJson(R"({"_id": 7, "n": 1})")->Json());
}

TEST(PlanEntry, UpdatesWithOperatorsOrReplacements) {
  auto set =
      Plan(R"({"op": "u", "ns": "a.b", "o2": {"_id": 1}, "o": {"$v": 1, "$set": {"x": 2}}})");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->kind, OplogStep::kUpdate);
  EXPECT_EQ(set->doc.Json(), Bson::FromJson(R"({"$set": {"x": 2}})")->Json());
  auto repl = Plan(R"({"op": "u", "ns": "a.b", "o2": {"_id": 1}, "o": {"_id": 1, "x": 3}})");
  ASSERT_TRUE(repl.ok());
  EXPECT_EQ(repl->kind, OplogStep::kReplace);
  auto delta = Plan(R"({"op": "u", "ns": "a.b", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {}}})");
  EXPECT_EQ(delta.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(delta.status().message().find("applyOps"), std::string::npos);
  auto no_id = Plan(R"({"op": "u", "ns": "a.b", "o": {"$set": {"x": 2}}})");
  EXPECT_FALSE(no_id.ok());
}

TEST(PlanEntry, DeletesCommandsAndSkips) {
  auto del = Plan(R"({"op": "d", "ns": "a.b", "o": {"_id": "k"}})");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->kind, OplogStep::kDelete);
  auto cmd = Plan(R"({"op": "c", "ns": "a.$cmd", "o": {"create": "c2"}})");
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ(cmd->kind, OplogStep::kCommand);
  EXPECT_EQ(cmd->db, "a");
  EXPECT_EQ(Plan(R"({"op": "n", "ns": "", "o": {"msg": "x"}})")->kind, OplogStep::kSkip);
  EXPECT_EQ(Plan(R"({"op": "i", "ns": "admin.system.users", "o": {"_id": 1}})")->kind,
            OplogStep::kSkip);
  EXPECT_EQ(Plan(R"({"op": "i", "ns": "a.system.js", "o": {"_id": 1}})")->kind, OplogStep::kSkip);
  EXPECT_FALSE(Plan(R"({"op": "x", "ns": "a.b", "o": {}})").ok());
  EXPECT_FALSE(Plan(R"({"op": "i", "ns": "a.b", "o": {"n": 1}})").ok());  // no _id
}

TEST(OplogApplier, TransactionsAreUnwrappedOrRefused) {
  // A large/prepared transaction cannot be replayed: refused before any server is touched.
  OplogApplier applier(nullptr);
  auto partial = Bson::FromJson(
      R"({"op": "c", "ns": "admin.$cmd", "o": {"applyOps": [], "partialTxn": true}})");
  EXPECT_EQ(applier.Apply(partial->bytes()).code(), absl::StatusCode::kUnimplemented);
  // A committed transaction with nothing in it applies nothing (and needs no server).
  auto empty = Bson::FromJson(R"({"op": "c", "ns": "admin.$cmd", "o": {"applyOps": []}})");
  EXPECT_TRUE(applier.Apply(empty->bytes()).ok());
  EXPECT_EQ(applier.applied(), 0u);
}

}  // namespace
}  // namespace mdb::engine::mongodb
