#include "engine/mongodb/oplog_delta.h"

#include <gtest/gtest.h>

namespace mdb::engine::mongodb {
namespace {

// The update documents of a delta, as canonical JSON.
std::vector<std::string> Updates(const std::string& diff_json) {
  auto diff = Bson::FromJson(diff_json);
  EXPECT_TRUE(diff.ok()) << diff_json;
  auto updates = DeltaToUpdates(diff->get());
  EXPECT_TRUE(updates.ok()) << updates.status();
  std::vector<std::string> out;
  if (updates.ok()) {
    for (const auto& u : *updates) out.push_back(u.Json());
  }
  return out;
}

std::string Json(const std::string& json) { return Bson::FromJson(json)->Json(); }

absl::StatusCode Refused(const std::string& diff_json) {
  auto diff = Bson::FromJson(diff_json);
  return DeltaToUpdates(diff->get()).status().code();
}

// Deltas as mongod 6.0 logs them (o.diff of "$v: 2" update entries).
TEST(DeltaToUpdates, TopLevelFieldsChangedAddedAndRemoved) {
  // Added fields are appended in the delta's order, one $set each (one $set of several new
  // fields would append them in name order).
  EXPECT_EQ(Updates(R"({"d": {"old": false}, "u": {"qty": 5}, "i": {"zeta": 1, "alpha": 2}})"),
            (std::vector<std::string>{Json(R"({"$unset": {"old": 1}, "$set": {"qty": 5}})"),
                                      Json(R"({"$set": {"zeta": 1}})"),
                                      Json(R"({"$set": {"alpha": 2}})")}));
}

TEST(DeltaToUpdates, NestedDocumentsBecomeDottedPaths) {
  EXPECT_EQ(Updates(R"({"saddr": {"u": {"zip": "10115"}, "d": {"flat": false},
                                  "sgeo": {"i": {"lat": 52.5}}}})"),
            (std::vector<std::string>{
                Json(R"({"$unset": {"addr.flat": 1}, "$set": {"addr.zip": "10115"}})"),
                Json(R"({"$set": {"addr.geo.lat": 52.5}})")}));
}

TEST(DeltaToUpdates, ArraysAreCutFirstThenElementsSet) {
  // items: [{k: 1}, "a", "b", "c"] -> [{k: 3}, "z"]
  EXPECT_EQ(Updates(R"({"sitems": {"a": true, "l": 2, "u1": "z", "s0": {"u": {"k": 3}}}})"),
            (std::vector<std::string>{
                Json(R"({"$push": {"items": {"$each": [], "$slice": {"$numberLong": "2"}}}})"),
                Json(R"({"$set": {"items.1": "z", "items.0.k": 3}})")}));
  // An element appended (no cut): set at its index, which MongoDB pads to.
  EXPECT_EQ(Updates(R"({"sitems": {"a": true, "u4": 9}})"),
            std::vector<std::string>{Json(R"({"$set": {"items.4": 9}})")});
  // An array inside an array element.
  EXPECT_EQ(Updates(R"({"sm": {"a": true, "s1": {"a": true, "u0": true}}})"),
            std::vector<std::string>{Json(R"({"$set": {"m.1.0": true}})")});
}

TEST(DeltaToUpdates, AnEmptyDeltaChangesNothing) { EXPECT_TRUE(Updates("{}").empty()); }

TEST(DeltaToUpdates, WhatNoUpdatePathCanAddressIsRefused) {
  EXPECT_EQ(Refused(R"({"u": {"a.b": 1}})"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Refused(R"({"i": {"$weird": 1}})"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Refused(R"({"u": {"": 1}})"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Refused(R"({"sa.b": {"u": {"x": 1}}})"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Refused(R"({"x": {"y": 1}})"), absl::StatusCode::kInvalidArgument);  // not a delta
  EXPECT_EQ(Refused(R"({"u": 5})"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Refused(R"({"sa": 5})"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Refused(R"({"sa": {"a": true, "u-1": 1}})"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Refused(R"({"sa": {"a": true, "l": -1}})"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Refused(R"({"sa": {"a": true, "q": 1}})"), absl::StatusCode::kInvalidArgument);
}

// Paths are bounded, alone and together: before, a delta nested deep with long names held a path
// per level and per change, ~1.6 GB for one 16 MiB delta.
TEST(DeltaToUpdates, LongPathsAreRefused) {
  const std::string name(40000, 'n');  // two levels pass 64 KiB
  EXPECT_EQ(Refused(R"({"s)" + name + R"(": {"s)" + name + R"(": {"u": {"x": 1}}}})"),
            absl::StatusCode::kInvalidArgument);
  // 1,200 changes of 60 KB paths: each allowed, together past 64 MiB.
  std::string many = R"({"s)" + std::string(60000, 'p') + R"(": {"u": {)";
  for (int i = 0; i < 1200; ++i) {
    many += (i ? "," : "") + std::string("\"f") + std::to_string(i) + "\": 1";
  }
  many += "}}}";
  auto diff = Bson::FromJson(many);
  ASSERT_TRUE(diff.ok());
  auto updates = DeltaToUpdates(diff->get());
  EXPECT_EQ(updates.status().code(), absl::StatusCode::kInvalidArgument) << updates.status();
  EXPECT_NE(updates.status().message().find("MiB together"), std::string::npos) << updates.status();
  EXPECT_EQ(Updates(R"({"s)" + std::string(1000, 'a') + R"(": {"u": {"x": 1}}})").size(), 1u);
}

}  // namespace
}  // namespace mdb::engine::mongodb
