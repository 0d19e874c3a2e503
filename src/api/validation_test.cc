#include "api/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "yandex/cloud/mdb/greenplum/v1/backup_service.pb.h"
#include "yandex/cloud/mdb/greenplum/v1/cluster_service.pb.h"
#include "yandex/cloud/mdb/mongodb/v1/backup_service.pb.h"
#include "yandex/cloud/mdb/opensearch/v1/cluster_service.pb.h"

namespace mdb::api {
namespace {

namespace gp = yandex::cloud::mdb::greenplum::v1;
namespace mg = yandex::cloud::mdb::mongodb::v1;
namespace os = yandex::cloud::mdb::opensearch::v1;
using ::testing::HasSubstr;

TEST(Validation, ListLimitsJustInsideAndOutside) {
  gp::ListBackupsRequest r;
  EXPECT_THAT(Validate(r).message(), HasSubstr("invalid 'folder_id': a value is required"));
  r.set_folder_id(std::string(50, 'f'));
  EXPECT_TRUE(Validate(r).ok());
  r.set_folder_id(std::string(51, 'f'));
  EXPECT_THAT(Validate(r).message(), HasSubstr("51 characters, the allowed length is <=50"));
  r.set_folder_id("f");
  r.set_page_size(1000);
  EXPECT_TRUE(Validate(r).ok());
  r.set_page_size(1001);
  EXPECT_EQ(Validate(r).message(), "invalid 'page_size': 1001 is outside the allowed range 0-1000");
  r.set_page_size(-1);
  EXPECT_EQ(Validate(r).code(), absl::StatusCode::kInvalidArgument);
  r.set_page_size(0);
  r.set_page_token(std::string(100, 't'));
  EXPECT_TRUE(Validate(r).ok());
  r.set_page_token(std::string(101, 't'));
  EXPECT_THAT(Validate(r).message(), HasSubstr("invalid 'page_token'"));
}

TEST(Validation, LengthCountsCharactersNotBytes) {
  mg::ListBackupsRequest r;
  std::string fifty_cyrillic;
  for (int i = 0; i < 50; ++i) fifty_cyrillic += "\xd0\xb6";  // U+0436, two bytes each
  r.set_folder_id(fifty_cyrillic);
  EXPECT_TRUE(Validate(r).ok());
}

TEST(Validation, NestedMapsPatternsAndRequiredEnums) {
  gp::RestoreClusterRequest r;
  r.set_backup_id("b");
  r.set_folder_id("f");
  r.set_name("restored-1");
  r.set_network_id("n");
  EXPECT_THAT(Validate(r).message(), HasSubstr("invalid 'environment': a value is required"));
  r.set_environment(gp::Cluster::PRODUCTION);
  EXPECT_TRUE(Validate(r).ok()) << Validate(r);
  r.set_name("bad name!");
  EXPECT_THAT(Validate(r).message(), HasSubstr("does not match the pattern [a-zA-Z0-9_-]*"));
  r.set_name(std::string(63, 'n'));
  EXPECT_TRUE(Validate(r).ok());
  (*r.mutable_labels())["Upper"] = "v";
  EXPECT_THAT(Validate(r).message(), HasSubstr("invalid 'labels key 'Upper''"));
  r.mutable_labels()->clear();
  for (int i = 0; i < 65; ++i) (*r.mutable_labels())["k" + std::to_string(i)] = "v";
  EXPECT_THAT(Validate(r).message(), HasSubstr("65 entries, the allowed number is <=64"));
  r.mutable_labels()->clear();
  r.mutable_maintenance_window();  // oneof marked exactly_one, none set
  EXPECT_THAT(Validate(r).message(), HasSubstr("maintenance_window.policy"));
  r.mutable_maintenance_window()->mutable_weekly_maintenance_window()->set_hour(25);
  EXPECT_THAT(Validate(r).message(), HasSubstr("25 is outside the allowed range 1-24"));
}

TEST(Validation, RequiredMessageAndOpenSearchDeleteLimits) {
  os::RestoreClusterRequest r;
  r.set_backup_id("b");
  r.set_name("n");
  r.set_network_id("n");
  r.set_folder_id("f");
  EXPECT_THAT(Validate(r).message(), HasSubstr("invalid 'config_spec': a value is required"));
  os::DeleteBackupRequest d;
  d.set_cluster_id("c");
  d.set_backup_id(std::string(51, 'b'));
  EXPECT_THAT(Validate(d).message(), HasSubstr("invalid 'backup_id'"));
}

TEST(Validation, EnumsHoldDefinedValuesOnly) {
  gp::RestoreClusterRequest r;
  r.set_backup_id("b");
  r.set_folder_id("f");
  r.set_name("n");
  // proto3 keeps a number it does not know; the contract defines 0..2.
  r.set_environment(static_cast<gp::Cluster::Environment>(99));
  auto st = Validate(r);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("invalid 'environment': 99 is not a value of Environment"));
  r.set_environment(gp::Cluster::PRESTABLE);
  EXPECT_THAT(Validate(r).message(), ::testing::Not(HasSubstr("environment")));
}

TEST(Validation, QuotedCutsLongInputAtACharacterBoundary) {
  EXPECT_EQ(Quoted("abc"), "'abc'");
  EXPECT_EQ(Quoted(std::string(64, 'x')), "'" + std::string(64, 'x') + "'");
  std::string long_id(100 * 1024, 'x');
  std::string q = Quoted(long_id);
  EXPECT_EQ(q, "'" + std::string(61, 'x') + "...'");
  // 60 ASCII bytes then two-byte characters: the cut falls inside one and moves before it.
  std::string utf8 = std::string(60, 'a');
  for (int i = 0; i < 10; ++i) utf8 += "\xc3\xa9";
  EXPECT_EQ(Quoted(utf8), "'" + std::string(60, 'a') + "...'");
}

}  // namespace
}  // namespace mdb::api
