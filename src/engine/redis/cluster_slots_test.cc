#include "engine/redis/cluster_slots.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace mdb::engine::redis {
namespace {

RespValue Int(int64_t n) { return {.type = RespValue::Type::kInteger, .integer = n}; }
RespValue Bulk(std::string s) { return {.type = RespValue::Type::kBulk, .str = std::move(s)}; }
RespValue Array(std::vector<RespValue> a) {
  return {.type = RespValue::Type::kArray, .array = std::move(a)};
}
// One entry of CLUSTER SLOTS: a range and its master (replicas left out).
RespValue Range(int64_t first, int64_t last, std::string host, int64_t port) {
  return Array({Int(first), Int(last), Array({Bulk(std::move(host)), Int(port), Bulk("id")})});
}

TEST(ClusterSlots, ARealAnswerGivesEachRangeItsMaster) {
  auto ranges = ParseClusterSlots(
      Array({Range(0, 5460, "10.0.0.1", 7000), Range(5461, 10922, "redis-2.example", 7001),
             Range(10923, 16383, "::1", 7002), Array({Int(1), Int(2)})}),  // no master: left out
      "10.0.0.1:7000");
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  ASSERT_EQ(ranges->size(), 3u);
  EXPECT_EQ((*ranges)[0].first, 0);
  EXPECT_EQ((*ranges)[0].last, 5460);
  EXPECT_EQ((*ranges)[0].master, "10.0.0.1:7000");
  EXPECT_EQ((*ranges)[1].master, "redis-2.example:7001");
  EXPECT_EQ((*ranges)[2].first, 10923);
  EXPECT_EQ((*ranges)[2].last, 16383);
  EXPECT_EQ((*ranges)[2].master, "::1:7002");
}

// Before, a negative start wrote below the restore's slot table on the stack.
// Redis 7 announces an endpoint it does not know as "" or "?": the node asked is meant.
TEST(ClusterSlots, AnUnknownEndpointIsTheNodeAsked) {
  for (const char* unknown : {"", "?"}) {
    auto ranges = ParseClusterSlots(Array({Range(0, 16383, unknown, 7001)}), "10.0.0.9:7000");
    ASSERT_TRUE(ranges.ok()) << ranges.status();
    EXPECT_EQ(ranges->front().master, "10.0.0.9:7001");
  }
}

TEST(ClusterSlots, ARangeOutsideTheSlotsIsRefused) {
  for (auto [first, last] : std::vector<std::pair<int64_t, int64_t>>{
           {-100, 5}, {INT64_MIN, 0}, {0, 16384}, {10, 9}, {16384, 16384}, {0, INT64_MAX}}) {
    auto ranges = ParseClusterSlots(Array({Range(first, last, "10.0.0.1", 7000)}), "n:1");
    EXPECT_EQ(ranges.status().code(), absl::StatusCode::kFailedPrecondition)
        << first << "-" << last;
    EXPECT_TRUE(absl::StrContains(ranges.status().message(), "target node n:1")) << ranges.status();
  }
}

// A master's address is connected to with the declared hosts' credentials.
TEST(ClusterSlots, AMasterThatIsNotAHostAndAPortIsRefused) {
  for (auto [host, port] :
       std::vector<std::pair<std::string, int64_t>>{{"evil host", 7000},
                                                    {"a\r\nAUTH x", 7000},
                                                    {"10.0.0.1/x", 7000},
                                                    {std::string(300, 'a'), 7000},
                                                    {"10.0.0.1", 0},
                                                    {"10.0.0.1", 65536},
                                                    {"10.0.0.1", -1}}) {
    auto ranges = ParseClusterSlots(Array({Range(0, 16383, host, port)}), "n:1");
    EXPECT_EQ(ranges.status().code(), absl::StatusCode::kFailedPrecondition) << host << ":" << port;
  }
  EXPECT_EQ(ParseClusterSlots(Bulk("ERR"), "n:1").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace mdb::engine::redis
