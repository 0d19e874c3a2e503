#include "cli/cluster_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mdb::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Level = engine::CheckItem::Level;

TEST(ClusterCheck, AlignsRowsAndPutsEachFixUnderItsRow) {
  std::vector<engine::CheckItem> items = {
      {Level::kOk, "seg0 h:1", "connection", "as backup, PostgreSQL 15.10", ""},
      {Level::kFailed, "seg0 h:1", "EXECUTE on pg_switch_wal()", "permission denied",
       "GRANT EXECUTE ON FUNCTION pg_switch_wal() TO backup;"},
      {Level::kWarning, "coordinator h:22", "archive_timeout", "0", "ALTER SYSTEM ..."},
  };
  std::string out = FormatCheck("pg", "greenplum", false, items);
  EXPECT_THAT(out, HasSubstr("cluster pg (greenplum)\n"));
  EXPECT_THAT(out, HasSubstr("  ok    seg0 h:1          connection                  as backup"));
  EXPECT_THAT(out,
              HasSubstr("  FAIL  seg0 h:1          EXECUTE on pg_switch_wal()  permission denied\n"
                        "        fix: GRANT EXECUTE ON FUNCTION pg_switch_wal() TO backup;\n"));
  EXPECT_THAT(out, HasSubstr("  WARN  coordinator h:22  archive_timeout"));
  EXPECT_THAT(out, HasSubstr("1 failed, 1 warnings: a backup would be refused"));
}

TEST(ClusterCheck, SaysWhenReadyAndWhenTheEngineHasNoChecks) {
  std::vector<engine::CheckItem> ok = {{Level::kOk, "t h:1", "data_dir", "/x is empty", ""}};
  std::string out = FormatCheck("t", "greenplum", true, ok);
  EXPECT_THAT(out, HasSubstr("(greenplum, restore target)"));
  EXPECT_THAT(out, HasSubstr("ready for a restore into it"));
  EXPECT_THAT(out, Not(HasSubstr("fix:")));
  EXPECT_THAT(FormatCheck("f", "fake", false, {}), HasSubstr("no pre-flight checks"));
}

}  // namespace
}  // namespace mdb::cli
