#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mdb::common {
namespace {

using ::testing::HasSubstr;

constexpr char kValid[] = R"(
server:
  grpc_listen: 127.0.0.1:7000
  catalog: /var/lib/mdb/catalog.db
tokens:
  - token: token-aaaa-1
    subject: alice
    read: [f1, f2]
    write: [f1]
  - token: token-bbbb-2
    read: ["*"]
clusters:
  - id: gp1
    folder_id: f1
    engine: greenplum
    backup_window_start: "03:30"
    retention_days: 14
    shards:
      - name: coordinator
        hosts: [{address: 127.0.0.1:5432, user: postgres}]
      - name: seg0
        hosts: [127.0.0.1:5433]
  - id: r1
    name: cache
    folder_id: f2
    engine: redis
    hosts: [127.0.0.1:6379]
)";

TEST(Config, ParsesClustersTokensAndServer) {
  auto cfg = ParseConfig(kValid, "c.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server.grpc_listen, "127.0.0.1:7000");
  EXPECT_EQ(cfg->server.rest_listen, "127.0.0.1:8080");
  ASSERT_EQ(cfg->clusters.size(), 2u);
  const ClusterConfig* gp = cfg->FindCluster("gp1");
  ASSERT_NE(gp, nullptr);
  EXPECT_EQ(gp->engine, Engine::GREENPLUM);
  EXPECT_EQ(gp->backup_window_start_minutes, 3 * 60 + 30);
  EXPECT_EQ(gp->retention_days, 14);
  ASSERT_EQ(gp->shards.size(), 2u);
  EXPECT_EQ(gp->shards[0].hosts[0].options.at("user"), "postgres");
  const ClusterConfig* r = cfg->FindCluster("r1");
  ASSERT_EQ(r->shards.size(), 1u);
  EXPECT_EQ(r->shards[0].name, "cache");  // `hosts:` is one shard named after the cluster
  EXPECT_EQ(cfg->tokens[0].subject, "alice");
  EXPECT_TRUE(cfg->tokens[0].write_folders.count("f1"));
  EXPECT_TRUE(cfg->tokens[0].read_folders.count("f1"));  // write implies read
  EXPECT_TRUE(cfg->tokens[1].all_folders);
  EXPECT_EQ(cfg->FindCluster("nope"), nullptr);
}

TEST(Config, ErrorsNameFileAndLine) {
  std::string text = kValid;
  text.replace(text.find("engine: redis"), 13, "engine: redys");
  auto cfg = ParseConfig(text, "c.yaml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), HasSubstr("c.yaml:26: cluster 'r1': unknown engine 'redys'"));
}

TEST(Config, RejectsUnknownKeysDuplicatesAndBadValues) {
  EXPECT_THAT(ParseConfig("clusters:\n  - id: a\n    folder: f\n", "x").status().message(),
              HasSubstr("x:3: unknown key 'folder'"));
  std::string dup = std::string(kValid) +
                    "  - id: r1\n    folder_id: f\n    engine: redis\n"
                    "    hosts: [h:1]\n";
  EXPECT_THAT(ParseConfig(dup, "x").status().message(), HasSubstr("'r1' is declared twice"));
  EXPECT_THAT(ParseConfig("clusters:\n  - id: a\n    folder_id: f\n    engine: redis\n"
                          "    hosts: [h:1]\n    backup_window_start: '25:00'\n",
                          "x")
                  .status()
                  .message(),
              HasSubstr("must be HH:MM"));
  EXPECT_THAT(ParseConfig("clusters:\n  - id: a\n    folder_id: f\n    engine: redis\n", "x")
                  .status()
                  .message(),
              HasSubstr("'hosts' or 'shards' is required"));
  EXPECT_THAT(ParseConfig("tokens: [{token: short}]\n", "x").status().message(),
              HasSubstr("at least 8 characters"));
  EXPECT_THAT(ParseConfig("server: [1\n", "x").status().message(), HasSubstr("x:"));
}

TEST(Config, RepositorySettingsAndSwitches) {
  auto cfg = ParseConfig(
      "server: {repository: 's3://b/p?endpoint=http://127.0.0.1:1', automated_backups: false}\n",
      "x");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server.repository, "s3://b/p?endpoint=http://127.0.0.1:1");
  EXPECT_FALSE(cfg->server.automated_backups);
  EXPECT_TRUE(ParseConfig("server: {}\n", "x")->server.automated_backups);
  EXPECT_THAT(ParseConfig("server: {automated_backups: sometimes}\n", "x").status().message(),
              HasSubstr("must be true or false"));
}

TEST(Config, LoadReportsMissingFile) {
  auto cfg = LoadConfig("/nonexistent/mdb.yaml");
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mdb::common
