#include "engine/mongodb/oplog_apply.h"

#include <gtest/gtest.h>

namespace mdb::engine::mongodb {
namespace {

absl::StatusOr<OplogStep> Plan(const std::string& json) {
  auto e = Bson::FromJson(json);
  if (!e.ok()) return e.status();
  return PlanEntry(e->bytes());
}

// {"a": {"a": ... {}}}, `depth` documents deep, built from the inside out.
std::string Nested(int depth) {
  std::string doc("\x05\0\0\0\0", 5);
  for (int i = 1; i < depth; ++i) {
    std::string child = "\x03" + std::string("a\0", 2) + doc;
    uint32_t len = static_cast<uint32_t>(4 + child.size() + 1);
    doc = std::string(reinterpret_cast<const char*>(&len), 4) + child + std::string(1, '\0');
  }
  return doc;
}

TEST(PlanEntry, DeepNestingIsRefusedBeforeAnythingRecursesIntoIt) {
  EXPECT_TRUE(Bson::FromBytes(Nested(kMaxBsonDepth)).ok());
  auto deep = PlanEntry(Nested(20000));  // bson_validate would recurse 20,000 frames deep
  EXPECT_TRUE(absl::IsDataLoss(deep.status())) << deep.status();
  EXPECT_NE(deep.status().message().find("nested deeper"), std::string::npos);
}

TEST(PlanEntry, AnEntryLibbsonCannotCopyIsNoAbort) {
  // Found by the oplog fuzz target: bson_copy_to_excluding aborted the process on this entry.
  std::string entry(
      "\x5d\x00\x00\x00\x11\x74\x73\x00\x01\x00\x00\x00\x00\xf1\x53\x65\x02\x6f\x70\x00\x02\x00\x00"
      "\x00\x75\x00\x02\x6e\x73\x00\x0c\x00\x00\x00\x73\x68\x6f\x70\x2e\x6f\x00\x64\x72\x65\x5d\x00"
      "\x03\x6f\x00\x19\x00\x00\x00\x03\x24\x73\x65\x74\x00\x0e\x00\x00\x00\x10\x71\x74\x79\x00\x03"
      "\x00\x00\x00\x00\x00\x03\x6f\x31\x00\x0e\x00\x00\x00\x10\x5f\x69\x64\x00\x01\x00\x00\x00\xfd"
      "\x00",
      93);
  auto s = PlanEntry(entry);
  (void)s;  // any answer but an abort
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
  ASSERT_EQ(set->updates.size(), 1u);
  EXPECT_EQ(set->updates[0].Json(), Bson::FromJson(R"({"$set": {"x": 2}})")->Json());
  auto repl = Plan(R"({"op": "u", "ns": "a.b", "o2": {"_id": 1}, "o": {"_id": 1, "x": 3}})");
  ASSERT_TRUE(repl.ok());
  EXPECT_EQ(repl->kind, OplogStep::kReplace);
  auto delta = Plan(
      R"({"op": "u", "ns": "a.b", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"u": {"x": 4}}}})");
  ASSERT_TRUE(delta.ok()) << delta.status();
  EXPECT_EQ(delta->kind, OplogStep::kUpdate);
  ASSERT_EQ(delta->updates.size(), 1u);
  EXPECT_EQ(delta->updates[0].Json(), Bson::FromJson(R"({"$set": {"x": 4}})")->Json());
  auto bad_delta = Plan(
      R"({"op": "u", "ns": "a.b", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"q": {"x": 4}}}})");
  EXPECT_EQ(bad_delta.status().code(), absl::StatusCode::kInvalidArgument);
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
