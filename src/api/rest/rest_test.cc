// In-process tests of the REST mapping: routes from the annotations, request building, JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "api/api.h"
#include "api/rest/rest_server.h"
#include "api/rest/router.h"
#include "common/test_engines.h"
#include "common/time_util.h"
#include "ops/tasks.h"

namespace mdb::api::rest {
namespace {

using ::testing::HasSubstr;

TEST(Router, RoutesComeFromTheAnnotations) {
  auto router = Router::Build(PublicServices(common::TestEngines()));
  ASSERT_TRUE(router.ok()) << router.status();
  // 3 engines x (Get, List, Delete, ClusterService Get, List, ListOperations, ListBackups,
  // Backup, Restore) + OpenSearch 9 + Get/Cancel + RecoveryService (GetRecoveryWindow,
  // DrillBackup, ListVerifications).
  EXPECT_EQ(router->size(), 3u * 9 + 9 + 2 + 3);
  std::string allowed;
  // A cluster, its backups and its backup action: three routes under one path prefix.
  auto cl = router->Match("GET", "/managed-redis/v1/clusters/c1", &allowed);
  ASSERT_TRUE(cl.has_value());
  EXPECT_EQ(cl->method->full_name(), "yandex.cloud.mdb.redis.v1.ClusterService.Get");
  cl = router->Match("GET", "/managed-redis/v1/clusters/c1/backups", &allowed);
  ASSERT_TRUE(cl.has_value());
  EXPECT_EQ(cl->method->full_name(), "yandex.cloud.mdb.redis.v1.ClusterService.ListBackups");
  auto m = router->Match("POST", "/managed-redis/v1/clusters/c%3A1:backup", &allowed);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->method->full_name(), "yandex.cloud.mdb.redis.v1.ClusterService.Backup");
  EXPECT_EQ(m->path_params.at("cluster_id"), "c:1");
  m = router->Match("GET", "/operations/op1:cancel", &allowed);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->method->name(), "Cancel");
  m = router->Match("GET", "/operations/op1", &allowed);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->method->name(), "Get");
  m = router->Match("DELETE", "/managed-opensearch/v1/clusters/c1/backups/b1", &allowed);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->path_params.at("backup_id"), "b1");
  EXPECT_EQ(router->Match("DELETE", "/managed-opensearch/v1/backups/b1", &allowed), std::nullopt);
  EXPECT_EQ(allowed, "GET");
  EXPECT_EQ(router->Match("GET", "/managed-redis/v2/backups", &allowed), std::nullopt);
  EXPECT_EQ(allowed, "");
  m = router->Match("POST", "/managed-greenplum/v1/clusters:restore", &allowed);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->body, "*");
}

class RestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / ("rest_test_" + std::to_string(getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
    auto cfg = common::ParseConfig(R"(
tokens:
  - {token: reader-token, read: [f1, f2]}
  - {token: writer-token, read: [f1], write: [f1]}
clusters:
  - {id: gp1, folder_id: f1, engine: greenplum, hosts: ["h:1"]}
  - {id: os1, folder_id: f1, engine: opensearch, hosts: ["h:1"]}
  - {id: gp-target, folder_id: f1, engine: greenplum, hosts: ["h:2"], restore_target: true}
)",
                                   "t.yaml", common::TestEngines());
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    catalog_ = std::move(*catalog::OpenSqliteCatalog((path_ / "c.db").string()));
    tasks_ = std::make_unique<ops::Tasks>(
        catalog_.get(), nullptr,
        [](const std::string&) { return std::optional<common::ClusterConfig>(); },
        [] { return common::DrillsConfig{}; }, [] { return std::vector<common::ClusterConfig>{}; });
    runner_ = std::make_unique<ops::OperationRunner>(catalog_.get(), 1,
                                                     ops::RunnerOptions{.executor = tasks_.get()});
    api_ =
        std::make_unique<Api>(catalog_.get(), runner_.get(), nullptr,
                              std::make_shared<const common::Config>(*cfg), common::TestEngines());
    router_ = std::make_unique<Router>(*Router::Build(PublicServices(common::TestEngines())));
    catalog::BackupRecord b;
    b.set_id("b1");
    b.set_engine(catalog::Engine::GREENPLUM);
    b.set_folder_id("f1");
    b.set_cluster_id("gp1");
    *b.mutable_created_at() = common::FromUnixNanos(1'764'000'000'000'000'001);
    *b.mutable_started_at() = common::FromUnixNanos(1'764'000'000'000'000'000 - 60'000'000'000);
    b.set_size(9'007'199'254'740'993);  // above 2^53: must survive as a JSON string
    b.set_type(catalog::BackupRecord::MANUAL);
    b.set_method(catalog::BackupRecord::INCREMENTAL);
    b.set_journal_size(7);
    ASSERT_TRUE(catalog_->PutBackup(b).ok());
  }
  void TearDown() override {
    runner_.reset();
    catalog_.reset();
    std::filesystem::remove_all(path_);
  }
  HttpResult Do(const std::string& verb, const std::string& target,
                const std::multimap<std::string, std::string>& query = {},
                const std::string& token = "reader-token", const std::string& body = "") {
    std::string authorization = token.empty() ? "" : "Bearer " + token;
    return HandleRequest(api_.get(), *router_, verb, target, body, query,
                         {.authorization = authorization, .address = "192.0.2.1"});
  }

  std::filesystem::path path_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<ops::Tasks> tasks_;
  std::unique_ptr<ops::OperationRunner> runner_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<Router> router_;
};

TEST_F(RestTest, GetUsesTheProto3JsonMapping) {
  HttpResult r = Do("GET", "/managed-greenplum/v1/backups/b1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"id":"b1","folderId":"f1","createdAt":"2025-11-24T16:00:00.000000001Z",)"
                    R"("sourceClusterId":"gp1","startedAt":"2025-11-24T15:59:00Z",)"
                    R"("size":"9007199254740993","type":"MANUAL","method":"INCREMENTAL",)"
                    R"("journalSize":"7"})");
}

TEST_F(RestTest, ErrorsAreStatusShapedWithTheRightHttpStatus) {
  HttpResult r = Do("GET", "/managed-greenplum/v1/backups/b1", {}, "");
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(r.body, HasSubstr(R"("code":16)"));
  EXPECT_THAT(r.body, HasSubstr(R"("details":[])"));
  EXPECT_EQ(Do("GET", "/managed-greenplum/v1/backups/b1", {}, "wrong-token").status, 401);
  r = Do("GET", "/managed-mongodb/v1/backups/b1");  // another engine's backup is not there
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"code":5,"message":"backup 'b1' not found","details":[]})");
  r = Do("GET", "/managed-greenplum/v1/backups", {{"folderId", "f1"}, {"pageSize", "1001"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("1001 is outside the allowed range 0-1000"));
  r = Do("GET", "/managed-greenplum/v1/backups", {{"folderId", "f1"}, {"pageSize", "ten"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("'ten' is not an integer"));
  r = Do("GET", "/managed-greenplum/v1/backups", {{"folderId", "f1"}, {"colour", "red"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Do("PUT", "/managed-greenplum/v1/backups/b1").status, 405);
  // The contract's cluster-managing methods: UNIMPLEMENTED, saying why.
  r = Do("POST", "/managed-redis/v1/clusters", {}, "writer-token", "{}");
  EXPECT_EQ(r.status, 501);
  EXPECT_THAT(r.body, HasSubstr("does not create, change, start, stop or delete clusters"));
  EXPECT_EQ(Do("DELETE", "/managed-redis/v1/clusters/rd1").status, 501);
  EXPECT_EQ(Do("POST", "/managed-greenplum/v1/clusters/gp1:start").status, 501);
  EXPECT_EQ(Do("GET", "/nowhere").status, 404);
  r = Do("POST", "/managed-greenplum/v1/clusters:restore", {}, "writer-token", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("not a valid RestoreClusterRequest JSON"));
}

TEST_F(RestTest, FoldersTheTokenCannotReadLookMissing) {
  auto cfg = common::ParseConfig("tokens: [{token: other-token, read: [f2]}]\n", "t.yaml",
                                 common::TestEngines());
  api_->Reload(std::make_shared<const common::Config>(*cfg));
  HttpResult r = Do("GET", "/managed-greenplum/v1/backups/b1", {}, "other-token");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"code":5,"message":"backup 'b1' not found","details":[]})");
  EXPECT_EQ(Do("GET", "/managed-greenplum/v1/backups/b1", {}, "reader-token").status, 401);
}

TEST_F(RestTest, AClusterOfAnotherEngineIsNotFoundButNamedToWhoMayReadIt) {
  HttpResult r = Do("GET", "/managed-redis/v1/clusters/gp1/backups");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("not found among redis clusters: it is a greenplum cluster"));
  // A cluster that is not declared (or whose folder the token may not read) is just not found.
  r = Do("GET", "/managed-redis/v1/clusters/nope/backups");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr(R"("message":"cluster 'nope' not found")"));
}

TEST_F(RestTest, ARestoreTargetIsNotBackedUp) {
  HttpResult r = Do("POST", "/managed-greenplum/v1/clusters/gp-target:backup", {}, "writer-token");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("is declared as a restore target"));
}

TEST_F(RestTest, DeleteIsAnOperationThatEndsWithTheBackupGone) {
  EXPECT_EQ(Do("DELETE", "/managed-greenplum/v1/backups/b1").status, 403);  // read-only token
  HttpResult r = Do("DELETE", "/managed-greenplum/v1/backups/b1", {}, "writer-token");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("@type":"type.googleapis.com/)"
                                R"(yandex.cloud.mdb.greenplum.v1.DeleteBackupMetadata",)"
                                R"("backupId":"b1","clusterId":"gp1"})"));
  std::string id = r.body.substr(r.body.find(R"("id":")") + 6, 20);
  runner_->WaitIdle();
  r = Do("GET", "/operations/" + id);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("done":true)"));
  EXPECT_THAT(r.body,
              HasSubstr(R"("response":{"@type":"type.googleapis.com/google.protobuf.Empty"})"));
  EXPECT_EQ(Do("GET", "/managed-greenplum/v1/backups/b1").status, 404);
  r = Do("GET", "/operations/" + id + ":cancel", {}, "writer-token");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("already done"));
}

TEST_F(RestTest, ClusterRoutesCheckTheClusterAndEngine) {
  HttpResult r = Do("GET", "/managed-greenplum/v1/clusters/gp1/backups");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("id":"b1")"));
  EXPECT_EQ(Do("GET", "/managed-redis/v1/clusters/gp1/backups").status, 404);
  EXPECT_EQ(Do("GET", "/managed-greenplum/v1/clusters/nope/backups").status, 404);
  EXPECT_EQ(
      Do("DELETE", "/managed-opensearch/v1/clusters/os1/backups/b1", {}, "writer-token").status,
      404);
  r = Do("POST", "/managed-greenplum/v1/clusters/gp1:backup", {}, "writer-token");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("no backup repository configured"));
}

// Listings keep the Backups they showed (BackupMessageCache) and the catalog leaves out the
// records they hold: a backup changed between two listings is shown as it is now, by folder and
// by cluster, and one listed again unchanged is shown the same.
TEST_F(RestTest, AListingShowsABackupAsItIsNow) {
  auto list = [&] {
    return std::make_pair(Do("GET", "/managed-greenplum/v1/backups", {{"folderId", "f1"}}),
                          Do("GET", "/managed-greenplum/v1/clusters/gp1/backups"));
  };
  auto [by_folder, by_cluster] = list();
  ASSERT_EQ(by_folder.status, 200) << by_folder.body;
  ASSERT_EQ(by_cluster.status, 200) << by_cluster.body;
  EXPECT_THAT(by_folder.body, HasSubstr(R"("size":"9007199254740993")"));
  EXPECT_THAT(by_cluster.body, HasSubstr(R"("size":"9007199254740993")"));
  auto again = list();  // held now
  EXPECT_EQ(again.first.body, by_folder.body);
  EXPECT_EQ(again.second.body, by_cluster.body);
  for (int64_t size : {42, 43}) {
    ASSERT_TRUE(catalog_
                    ->ModifyBackup("b1",
                                   [&](catalog::BackupRecord* b) {
                                     b->set_size(size);
                                     return absl::OkStatus();
                                   })
                    .ok());
    auto now = list();
    std::string shown = absl::StrCat(R"("size":")", size, R"(")");
    EXPECT_THAT(now.first.body, HasSubstr(shown));
    EXPECT_THAT(now.second.body, HasSubstr(shown));
  }
}

}  // namespace
}  // namespace mdb::api::rest
