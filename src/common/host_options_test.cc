#include "common/host_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/test_dir.h"

namespace mdb::common {
namespace {

using ::testing::HasSubstr;

TEST(HostPassword, FromTheFileFirstLineElseTheOptionAndAnUnreadableFileIsAnError) {
  auto dir = FreshTestDir("host_options");
  HostConfig host{.address = "db1:5432", .options = {{"password", "inline"}}};
  EXPECT_EQ(*HostPassword(host), "inline");
  EXPECT_EQ(HostOption(host, "user", "postgres"), "postgres");
  std::ofstream(dir / "p") << "s3cret \r\nsecond line\n";
  host.options["password_file"] = (dir / "p").string();
  EXPECT_EQ(*HostPassword(host), "s3cret ");  // the first line as is, without its line ending
  std::ofstream(dir / "empty");
  host.options["password_file"] = (dir / "empty").string();
  EXPECT_EQ(*HostPassword(host), "");
  // Once the PostgreSQL engine read a missing file as an empty password, silently.
  host.options["password_file"] = (dir / "missing").string();
  auto st = HostPassword(host);
  EXPECT_EQ(st.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.status().message(), HasSubstr("host db1:5432: cannot read password_file"));
  EXPECT_THAT(st.status().message(), HasSubstr("missing"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::common
