#include "engine/greenplum/relations.h"

#include <gtest/gtest.h>

namespace mdb::engine::greenplum {
namespace {

TEST(Relations, RoundTripNamesThatHoldSeparators) {
  std::vector<Relation> list = {
      {.database = "postgres", .name = "public.accounts", .kind = 'r', .bytes = 8192},
      {.database = "tab\there", .name = "s.\"new\nline\\x\"", .kind = 'i', .bytes = 0}};
  std::string text = FormatRelations(list);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  auto back = ParseRelations(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, list);
  EXPECT_EQ(ParseRelations("postgres\tpublic.t\tr\n").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseRelations("db\tname\\").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace mdb::engine::greenplum
