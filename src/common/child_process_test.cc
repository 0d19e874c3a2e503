#include "common/child_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>

#include "absl/time/clock.h"
#include "common/scoped_env.h"
#include "common/test_dir.h"

namespace mdb::common {
namespace {

TEST(ChildProcess, RunsToItsEndWithoutTheServicesSecrets) {
  const std::string dir = FreshTestDir("child").string();
  ScopedEnv env;
  env.Set("AWS_SECRET_ACCESS_KEY", "do-not-pass")
      .Set("MDB_CHILD_TEST_PLAIN", "x")
      .Set("LANG_CHILD_TEST", "kept");
  auto run = RunToEnd({"/bin/sh", "-c", "env; exit 3"}, {.output_file = dir + "/out"},
                      absl::Seconds(30), nullptr);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 3);
  EXPECT_NE(run->output.find("LANG_CHILD_TEST=kept"), std::string::npos) << run->output;
  EXPECT_EQ(run->output.find("do-not-pass"), std::string::npos) << run->output;
  EXPECT_EQ(run->output.find("MDB_CHILD_TEST_PLAIN"), std::string::npos) << run->output;
}

TEST(ChildProcess, TheGivenEnvironmentReplacesOursByName) {
  ScopedEnv env;
  env.Set("LANG_CHILD_TEST", "ours").Set("LANG_CHILD_TEST_LONGER", "kept");
  auto run = RunToEnd({"/bin/sh", "-c", "env"},
                      {.env = {"LANG_CHILD_TEST=given", "OPENSEARCH_JAVA_OPTS=-Xmx1m"}},
                      absl::Seconds(30), nullptr);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_NE(run->output.find("LANG_CHILD_TEST=given\n"), std::string::npos) << run->output;
  EXPECT_EQ(run->output.find("LANG_CHILD_TEST=ours"), std::string::npos) << run->output;
  EXPECT_NE(run->output.find("LANG_CHILD_TEST_LONGER=kept"), std::string::npos) << run->output;
  EXPECT_NE(run->output.find("OPENSEARCH_JAVA_OPTS=-Xmx1m"), std::string::npos) << run->output;
}

TEST(ChildProcess, StopEndsTheWholeProcessGroupAndATimeoutKills) {
  const std::string dir = FreshTestDir("child").string();
  // The shell starts a grandchild that ignores SIGTERM: Stop must still leave nothing running.
  const std::string pidfile = dir + "/grandchild";
  auto child =
      Child::Start({"/bin/sh", "-c", "(trap '' TERM; sleep 600) & echo $! > " + pidfile + "; wait"},
                   {.output_file = dir + "/log"});
  ASSERT_TRUE(child.ok()) << child.status();
  pid_t grandchild = 0;
  for (int i = 0; i < 500 && grandchild == 0; ++i) {
    std::ifstream in(pidfile);
    in >> grandchild;
    if (grandchild == 0) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE((*child)->Running());
  (*child)->Stop(absl::Milliseconds(200));
  EXPECT_FALSE((*child)->Running());
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {  // reaped by init once killed
    gone = kill(grandchild, 0) != 0;
    if (!gone) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(gone) << "the grandchild " << grandchild << " outlived Stop";

  std::atomic<bool> cancelled{false};
  auto slow = RunToEnd({"/bin/sleep", "600"}, {.output_file = dir + "/slow"},
                       absl::Milliseconds(100), &cancelled);
  EXPECT_EQ(slow.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Child::Start({"relative"}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Child::Start({"/nonexistent/binary"}, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace mdb::common
