#include "engine/greenplum/segments.h"

#include <gtest/gtest.h>

#include "engine/greenplum/cut.h"

namespace mdb::engine::greenplum {
namespace {

const common::HostConfig kCoordinator{
    .address = "gp-coordinator:5432",
    .options = {{"discover_segments", "true"}, {"user", "backup"}, {"wal_slot", "s"}}};

std::vector<SegmentRow> Healthy() {
  return {{.content = -1, .address = "cdw", .port = 5432},
          {.content = -1, .role = 'm', .preferred_role = 'm', .address = "scdw", .port = 5432},
          {.content = 1, .address = "sdw2", .port = 6000},
          {.content = 0, .address = "sdw1", .port = 6000},
          {.content = 0, .role = 'm', .preferred_role = 'm', .address = "sdw2", .port = 7000},
          {.content = 1, .role = 'm', .preferred_role = 'm', .address = "sdw1", .port = 7000}};
}

TEST(Segments, EachContentIdIsAShardReadFromItsActingPrimary) {
  auto layout = LayoutFromRows(Healthy(), kCoordinator, "-c gp_role=utility");
  ASSERT_TRUE(layout.ok()) << layout.status();
  ASSERT_EQ(layout->size(), 3u);
  EXPECT_EQ((*layout)[0].name, "coordinator");
  EXPECT_EQ((*layout)[0].hosts.front().address, "gp-coordinator:5432");  // as declared
  EXPECT_FALSE((*layout)[0].hosts.front().options.count("pg_options"));
  EXPECT_EQ((*layout)[1].name, "seg0");
  EXPECT_EQ((*layout)[1].hosts.front().address, "sdw1:6000");
  EXPECT_EQ((*layout)[2].hosts.front().address, "sdw2:6000");
  const auto& seg1 = (*layout)[2].hosts.front();
  EXPECT_EQ(ContentOf(seg1), 1);
  EXPECT_EQ(ContentOf((*layout)[0].hosts.front()), -1);
  EXPECT_EQ(seg1.options.at("user"), "backup");  // the coordinator's credentials and slot
  EXPECT_EQ(seg1.options.at("wal_slot"), "s");
  EXPECT_EQ(seg1.options.at("pg_options"), "-c gp_role=utility");
  EXPECT_FALSE(seg1.options.count("discover_segments"));
  EXPECT_FALSE(seg1.options.count("gp_promoted"));
}

TEST(Segments, AMirrorThatTookOverIsReadAndMarked) {
  auto rows = Healthy();
  rows[3].role = 'm', rows[3].status = 'd';  // sdw1:6000 failed
  rows[4].role = 'p';                        // its mirror took over
  auto layout = LayoutFromRows(rows, kCoordinator, "");
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ((*layout)[1].hosts.front().address, "sdw2:7000");
  EXPECT_EQ((*layout)[1].hosts.front().options.at("gp_promoted"), "true");
}

TEST(Segments, APrimaryDownBeforeItsMirrorTookOverFailsNamingIt) {
  auto rows = Healthy();
  rows[2].status = 'd';
  auto layout = LayoutFromRows(rows, kCoordinator, "");
  ASSERT_EQ(layout.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(layout.status().message().find("seg1 (sdw2:6000)"), std::string::npos)
      << layout.status();
}

TEST(Segments, AMalformedCatalogIsRefused) {
  auto with = [](auto change) {
    auto rows = Healthy();
    change(rows);
    return LayoutFromRows(rows, kCoordinator, "").status();
  };
  const std::vector<std::pair<absl::Status, std::string>> cases = {
      {with([](auto& r) { r[2].content = 2, r[5].content = 2; }),
       "do not run from 0 without a gap"},
      {with([](auto& r) { r.erase(r.begin()); }), "no coordinator"},
      {with([](auto& r) { r[4].role = 'p'; }), "content 0 has two primaries"},
      {with([](auto& r) { r[2].address = "sdw2 sslmode=disable"; }), "has address 'sdw2 sslmode"},
      {with([](auto& r) { r[2].address = ""; }), "has address ''"},
      {with([](auto& r) { r[2].port = 70000; }), "port 70000"},
      {with([](auto& r) { r[2].role = 'x'; }), "has role 'x'"},
      {with([](auto& r) { r[2].preferred_role = 'x'; }), "has preferred role 'x'"},
      {with([](auto& r) { r[2].status = '?'; }), "has status '?'"},
      {with([](auto& r) { r[2].content = -7; }), "content id -7 is out of range"},
      {with([](auto& r) { r.push_back({.content = 5, .role = 'm', .address = "x", .port = 1}); }),
       "content 5 has no primary"},
      {with([](auto& r) { r.resize(2); }), "do not run from 0"},  // no segment at all
  };
  for (const auto& [st, says] : cases) {
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
    EXPECT_NE(st.message().find(says), std::string::npos) << says << " in: " << st;
  }
}

TEST(Segments, OnlyAClusterOfOneCoordinatorHostDiscovers) {
  common::ClusterConfig c{.id = "gp", .shards = {{.name = "gp", .hosts = {kCoordinator}}}};
  EXPECT_TRUE(DiscoversSegments(c));
  c.shards.front().hosts.front().options["discover_segments"] = "false";
  EXPECT_FALSE(DiscoversSegments(c));
  c.shards.front().hosts.front().options["discover_segments"] = "true";
  c.shards.push_back({.name = "seg0", .hosts = {kCoordinator}});
  EXPECT_FALSE(DiscoversSegments(c));
}

TEST(Segments, ARestoreTargetMustDeclareTheSegmentsByName) {
  common::ClusterConfig target{.id = "out", .shards = {{.name = "coordinator"}, {.name = "seg0"}}};
  EXPECT_TRUE(CheckTargetLayout({"coordinator", "seg0"}, target).ok());
  auto st = CheckTargetLayout({"coordinator", "seg0", "seg1"}, target);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("coordinator, seg0, seg1"), std::string::npos) << st;
  target.shards = {{.name = "seg0"}, {.name = "coordinator"}};
  EXPECT_FALSE(CheckTargetLayout({"coordinator", "seg0"}, target).ok());
}

TEST(Cut, EverySegmentOfTheBackupHasExactlyOnePosition) {
  auto cut = CutFromRows({{"-1", "0/3000028"}, {"0", "0/5000060"}, {"1", "1/A0"}}, {-1, 0, 1});
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_EQ(FormatLsn(cut->at(1)), "1/A0");
  EXPECT_EQ(FormatLsn(cut->at(-1)), "0/3000028");
  // A segment missing, one the backup did not read, one twice, a position that is none.
  EXPECT_EQ(CutFromRows({{"-1", "0/1"}}, {-1, 0}).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(CutFromRows({{"-1", "0/1"}, {"0", "0/1"}, {"2", "0/1"}}, {-1, 0}).status().code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(CutFromRows({{"-1", "0/1"}, {"-1", "0/2"}}, {-1}).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(CutFromRows({{"-1", "0/1'; DROP"}}, {-1}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(CutFromRows({{"x", "0/1"}}, {-1}).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace mdb::engine::greenplum
