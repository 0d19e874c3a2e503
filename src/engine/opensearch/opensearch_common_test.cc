#include "engine/opensearch/opensearch_common.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "engine/opensearch/opensearch_engine.h"

namespace mdb::engine::opensearch {
namespace {

TEST(ImmutableRepositoryFile, OnlyFilesOpenSearchNeverRewrites) {
  // Segment blobs and per-snapshot metadata are written once under unique names.
  EXPECT_TRUE(ImmutableRepositoryFile("indices/Xy1/0/__9fJk2lQ"));
  EXPECT_TRUE(ImmutableRepositoryFile("snap-WO2W9QYxSmSAV9O19Fyeaw.dat"));
  EXPECT_TRUE(ImmutableRepositoryFile("meta-WO2W9QYxSmSAV9O19Fyeaw.dat"));
  EXPECT_TRUE(ImmutableRepositoryFile("indices/Xy1/0/snap-WO2W9QYxSmSAV9O19Fyeaw.dat"));
  EXPECT_TRUE(ImmutableRepositoryFile("indices/Xy1/meta-abc.dat"));
  // The repository's generation files change with every snapshot.
  EXPECT_FALSE(ImmutableRepositoryFile("index-3"));
  EXPECT_FALSE(ImmutableRepositoryFile("index.latest"));
  EXPECT_FALSE(ImmutableRepositoryFile("indices/Xy1/0/index-Qk2Jx"));
  EXPECT_FALSE(ImmutableRepositoryFile("snap-unfinished.tmp"));
}

TEST(SnapshotName, LowercaseWithPrefix) { EXPECT_EQ(SnapshotName("C9qAbZ01"), "mdb-c9qabz01"); }

}  // namespace
}  // namespace mdb::engine::opensearch

namespace mdb::engine::opensearch {
namespace {

TEST(JsonReads, NeverThrowOnOddReplies) {
  Json j = Json::parse(R"({"error": {"type": "x", "reason": null}, "n": "7", "a": [1, {"b": 2}]})");
  EXPECT_EQ(GetStr(j, "/error/type"), "x");
  EXPECT_EQ(GetStr(j, "/error/reason", "none"), "none");  // null, not a string
  EXPECT_EQ(GetInt(j, "/n", -1), -1);                     // a string, not a number
  EXPECT_EQ(GetInt(j, "/a/1/b"), 2);
  EXPECT_EQ(GetInt(j, "/a/9/b", 5), 5);
  EXPECT_EQ(GetStr(j, "/a/x/b", "d"), "d");  // not an index
  EXPECT_TRUE(GetNode(Json(), "/x").is_null());
  EXPECT_EQ(GetStr(Json("text"), "/version/number"), "");
}

// nlohmann's copy and dump recurse: a reply nested a million deep would overflow the stack of
// whatever copies it. Refused up front; strings holding brackets do not count.
TEST(ParseReply, DeepNestingIsRefusedAndStringsDoNotCount) {
  EXPECT_TRUE(ParseReply(std::string(1000000, '[') + std::string(1000000, ']')).is_null());
  EXPECT_TRUE(ParseReply(std::string(65, '[') + std::string(65, ']')).is_null());
  EXPECT_TRUE(ParseReply(std::string(64, '[') + std::string(64, ']')).is_array());
  Json quoted = ParseReply(
      R"({"reason": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"{{"})");
  EXPECT_EQ(GetStr(quoted, "/reason").substr(0, 3), "[[[");
  EXPECT_TRUE(ParseReply("not json").is_null());
}

// Parsed, a value costs 16 to 120 bytes: 60 MiB of "{}," took 3.6 GB. The count is refused up
// front, and the reason is told.
TEST(ParseReply, TooManyValuesAreRefusedWithAReason) {
  std::string why;
  std::string most = "[";
  for (int64_t i = 0; i < kMaxReplyValues - 2; ++i) most += "0,";
  EXPECT_TRUE(ParseReply(most + "0]", &why).is_array());
  EXPECT_EQ(why, "");
  EXPECT_TRUE(ParseReply(most + "0,0]", &why).is_null());
  EXPECT_EQ(why, absl::StrCat("holding more than ", kMaxReplyValues, " values"));
  EXPECT_TRUE(ParseReply(std::string(65, '{'), &why).is_null());
  EXPECT_EQ(why, "nested deeper than 64 levels");
  EXPECT_TRUE(ParseReply("<html>", &why).is_null());
  EXPECT_EQ(why, "not JSON");
  why.clear();
  EXPECT_TRUE(ParseReply("", &why).is_null());
  EXPECT_EQ(why, "");  // an empty body is no reply body, not a bad one
}

TEST(SelectIndices, AllOrByPatternExcludingAndRenamed) {
  const std::vector<std::string> snap = {".kibana_1", "books", "logs-2026.12", "logs-2026.11"};
  mdb_backup::v1::OpenSearchRestoreOptions o;
  auto all = SelectIndices(snap, o);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[1], std::make_pair(std::string("books"), std::string("books")));
  o.add_indices("logs-*");
  o.add_indices("-logs-2026.11");
  o.set_rename_pattern("logs-(.+)");
  o.set_rename_replacement("restored-logs-$1");
  auto some = SelectIndices(snap, o);
  ASSERT_TRUE(some.ok()) << some.status();
  ASSERT_EQ(some->size(), 1u);
  EXPECT_EQ((*some)[0].first, "logs-2026.12");
  EXPECT_EQ((*some)[0].second, "restored-logs-2026.12");
}

TEST(SelectIndices, OpenSearchsRulesForPatterns) {
  const std::vector<std::string> snap = {"a[1]", "a?", "ab", "logs-1", "logs-2"};
  mdb_backup::v1::OpenSearchRestoreOptions o;
  o.add_indices("-logs-*");  // first an exclusion: every index but those
  auto all_but = SelectIndices(snap, o);
  ASSERT_TRUE(all_but.ok()) << all_but.status();
  ASSERT_EQ(all_but->size(), 3u);
  EXPECT_EQ((*all_but)[0].first, "a[1]");
  o.clear_indices();
  o.add_indices("a?");  // `?` is a character, `*` the only wildcard
  auto literal = SelectIndices(snap, o);
  ASSERT_TRUE(literal.ok());
  ASSERT_EQ(literal->size(), 1u);
  EXPECT_EQ((*literal)[0].first, "a?");
  o.add_indices("bokks");  // a misspelt exact name is not passed over
  auto missing = SelectIndices(snap, o);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("'bokks' is not in the backup"), std::string::npos);
  o.clear_indices();
  o.set_rename_pattern("(.+)");
  o.set_rename_replacement("x$10");  // group 10, or group 1 then 0? Refused, not guessed.
  EXPECT_EQ(SelectIndices(snap, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.set_rename_replacement("x\\$1");
  EXPECT_EQ(SelectIndices(snap, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.set_rename_pattern("(a+)+$");  // catastrophic for a backtracking engine; linear in RE2
  o.set_rename_replacement("r-$1");
  auto renamed = SelectIndices({std::string(200, 'a') + "!"}, o);
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ((*renamed)[0].second, std::string(200, 'a') + "!");  // no match at the end: as is
}

TEST(SelectIndices, ABadPatternOrAnEmptySelectionIsRefused) {
  mdb_backup::v1::OpenSearchRestoreOptions o;
  o.add_indices("nothing-*");
  EXPECT_EQ(SelectIndices({"books"}, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.clear_indices();
  o.set_rename_pattern("(unclosed");
  auto bad = SelectIndices({"books"}, o);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("not a regular expression"), std::string::npos);
}

}  // namespace
}  // namespace mdb::engine::opensearch
