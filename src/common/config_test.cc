#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/test_engines.h"

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
    stall_timeout_seconds: 600
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
  auto cfg = ParseConfig(kValid, "c.yaml", TestEngines());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server.grpc_listen, "127.0.0.1:7000");
  EXPECT_EQ(cfg->server.rest_listen, "127.0.0.1:8080");
  ASSERT_EQ(cfg->clusters.size(), 2u);
  const ClusterConfig* gp = cfg->FindCluster("gp1");
  ASSERT_NE(gp, nullptr);
  EXPECT_EQ(gp->engine, Engine::GREENPLUM);
  EXPECT_EQ(gp->backup_window_start_minutes, 3 * 60 + 30);
  EXPECT_EQ(gp->retention_days, 14);
  EXPECT_EQ(gp->stall_timeout_seconds, 600);
  ASSERT_EQ(gp->shards.size(), 2u);
  EXPECT_EQ(gp->shards[0].hosts[0].options.at("user"), "postgres");
  const ClusterConfig* r = cfg->FindCluster("r1");
  ASSERT_EQ(r->shards.size(), 1u);
  EXPECT_EQ(r->shards[0].name, "cache");  // `hosts:` is one shard named after the cluster
  EXPECT_EQ(r->stall_timeout_seconds, 3600);
  auto os = ParseConfig(
      "clusters:\n  - {id: o1, folder_id: f, engine: opensearch, hosts: [127.0.0.1:9200]}\n",
      "c.yaml", TestEngines());
  ASSERT_TRUE(os.ok()) << os.status();
  EXPECT_EQ(os->clusters[0].stall_timeout_seconds, 24 * 3600);  // its snapshot comes first
  for (const char* bad : {"0", "604801"}) {
    EXPECT_FALSE(ParseConfig(absl::StrCat("clusters:\n  - {id: o1, folder_id: f, engine: redis, "
                                          "hosts: [127.0.0.1:1], stall_timeout_seconds: ",
                                          bad, "}\n"),
                             "c.yaml", TestEngines())
                     .ok())
        << bad;
  }
  EXPECT_EQ(cfg->tokens[0].subject, "alice");
  EXPECT_TRUE(cfg->tokens[0].write_folders.count("f1"));
  EXPECT_TRUE(cfg->tokens[0].read_folders.count("f1"));  // write implies read
  EXPECT_TRUE(cfg->tokens[1].all_folders);
  EXPECT_EQ(cfg->FindCluster("nope"), nullptr);
}

TEST(Config, ErrorsNameFileAndLine) {
  std::string text = kValid;
  text.replace(text.find("engine: redis"), 13, "engine: redys");
  auto cfg = ParseConfig(text, "c.yaml", TestEngines());
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), HasSubstr("c.yaml:27: cluster 'r1': unknown engine 'redys'"));
}

TEST(Config, RejectsUnknownKeysDuplicatesAndBadValues) {
  EXPECT_THAT(
      ParseConfig("clusters:\n  - id: a\n    folder: f\n", "x", TestEngines()).status().message(),
      HasSubstr("x:3: unknown key 'folder'"));
  std::string dup = std::string(kValid) +
                    "  - id: r1\n    folder_id: f\n    engine: redis\n"
                    "    hosts: [h:1]\n";
  EXPECT_THAT(ParseConfig(dup, "x", TestEngines()).status().message(),
              HasSubstr("'r1' is declared twice"));
  // Host settings are the engine's: a typo is refused with the ones it knows.
  EXPECT_THAT(ParseConfig("clusters:\n  - id: a\n    folder_id: f\n    engine: greenplum\n"
                          "    hosts: [{address: 'h:1', datadir: /x}]\n",
                          "x", TestEngines())
                  .status()
                  .message(),
              HasSubstr("x:5: cluster 'a': unknown host setting 'datadir' for greenplum "
                        "(expected one of: address, data_dir,"));
  EXPECT_TRUE(ParseConfig("clusters:\n  - id: a\n    folder_id: f\n    engine: greenplum\n"
                          "    hosts: [{address: 'h:1', data_dir: /x, user: backup}]\n",
                          "x", TestEngines())
                  .ok());
  // A key given twice: yaml-cpp would keep the first silently.
  EXPECT_THAT(ParseConfig("server:\n  worker_threads: 2\n  lease_seconds: 30\n"
                          "  worker_threads: 1\n",
                          "x", TestEngines())
                  .status()
                  .message(),
              HasSubstr("x:4: key 'worker_threads' is given twice in 'server' (first at line 2)"));
  EXPECT_THAT(ParseConfig("clusters:\n  - id: a\n    folder_id: f\n    engine: redis\n"
                          "    hosts: [{address: 'h:1', address: 'h:2'}]\n",
                          "x", TestEngines())
                  .status()
                  .message(),
              HasSubstr("address given twice"));
  EXPECT_THAT(ParseConfig("clusters:\n  - id: a\n    folder_id: f\n    engine: redis\n"
                          "    hosts: [h:1]\n    backup_window_start: '25:00'\n",
                          "x", TestEngines())
                  .status()
                  .message(),
              HasSubstr("must be HH:MM"));
  EXPECT_THAT(
      ParseConfig("clusters:\n  - id: a\n    folder_id: f\n    engine: redis\n", "x", TestEngines())
          .status()
          .message(),
      HasSubstr("'hosts' or 'shards' is required"));
  EXPECT_THAT(ParseConfig("tokens: [{token: short}]\n", "x", TestEngines()).status().message(),
              HasSubstr("at least 8 characters"));
  EXPECT_THAT(ParseConfig("server: [1\n", "x", TestEngines()).status().message(), HasSubstr("x:"));
  // Shard names (a hosts-only cluster's is its name) name journal keys: bounded.
  const std::string name81(81, 'n');
  EXPECT_THAT(ParseConfig("clusters:\n  - id: a\n    folder_id: f\n    engine: greenplum\n"
                          "    shards: [{name: " +
                              name81 + ", hosts: [h:1]}]\n",
                          "x", TestEngines())
                  .status()
                  .message(),
              HasSubstr("longer than 80 characters"));
  EXPECT_THAT(ParseConfig("clusters:\n  - id: a\n    name: " + name81 +
                              "\n    folder_id: f\n    engine: redis\n    hosts: [h:1]\n",
                          "x", TestEngines())
                  .status()
                  .message(),
              HasSubstr("longer than 80 characters"));
  EXPECT_TRUE(ParseConfig("clusters:\n  - id: a\n    name: " + std::string(80, 'n') +
                              "\n    folder_id: f\n    engine: redis\n    hosts: [h:1]\n",
                          "x", TestEngines())
                  .ok());
}

TEST(Config, ARestoreTargetIsDeclaredAsSuch) {
  auto cfg = ParseConfig(
      "clusters:\n  - {id: t, folder_id: f, engine: redis, hosts: [h:1],"
      " restore_target: true}\n  - {id: s, folder_id: f, engine: redis,"
      " hosts: [h:2]}\n",
      "x", TestEngines());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_TRUE(cfg->clusters[0].restore_target);
  EXPECT_FALSE(cfg->clusters[1].restore_target);
}

TEST(Config, RepositorySettingsAndSwitches) {
  auto cfg = ParseConfig(
      "server: {repository: 's3://b/p?endpoint=http://127.0.0.1:1', automated_backups: false}\n",
      "x", TestEngines());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server.repository, "s3://b/p?endpoint=http://127.0.0.1:1");
  EXPECT_FALSE(cfg->server.automated_backups);
  EXPECT_TRUE(ParseConfig("server: {}\n", "x", TestEngines())->server.automated_backups);
  EXPECT_THAT(ParseConfig("server: {automated_backups: sometimes}\n", "x", TestEngines())
                  .status()
                  .message(),
              HasSubstr("must be true or false"));
  // Retries of a failed AUTOMATED backup: 3 after 15 minutes unless told; bounded.
  EXPECT_EQ(ParseConfig("server: {}\n", "x", TestEngines())->server.automated_retries, 3);
  EXPECT_EQ(ParseConfig("server: {}\n", "x", TestEngines())->server.automated_retry_seconds, 900);
  auto retries = ParseConfig("server: {automated_retries: 0, automated_retry_seconds: 60}\n", "x",
                             TestEngines());
  ASSERT_TRUE(retries.ok()) << retries.status();
  EXPECT_EQ(retries->server.automated_retries, 0);
  EXPECT_EQ(retries->server.automated_retry_seconds, 60);
  EXPECT_FALSE(ParseConfig("server: {automated_retries: 11}\n", "x", TestEngines()).ok());
  EXPECT_FALSE(ParseConfig("server: {automated_retry_seconds: 0}\n", "x", TestEngines()).ok());
}

TEST(Config, LoadReportsMissingFile) {
  auto cfg = LoadConfig("/nonexistent/mdb.yaml", TestEngines());
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kNotFound);
}

TEST(Config, TokensByDigestWithRestoreAndASubjectThatIsNotTheToken) {
  auto cfg = ParseConfig(R"(tokens:
  - {token: secret-token-1, read: [f1], restore: [f2]}
  - {token_sha256: ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789, write: [f3]}
)",
                         "c.yaml", TestEngines());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->tokens[0].subject, "token at line 2");  // nothing of "secret-token-1"
  EXPECT_TRUE(cfg->tokens[0].restore_folders.count("f2") &&
              cfg->tokens[0].read_folders.count("f2"));
  EXPECT_FALSE(cfg->tokens[0].restore_folders.count("f1"));  // read does not imply restore
  EXPECT_EQ(cfg->tokens[1].token, "");
  EXPECT_EQ(cfg->tokens[1].token_sha256,
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  EXPECT_TRUE(cfg->tokens[1].restore_folders.count("f3"));  // write implies restore

  auto bad = [](const std::string& entry) {
    return ParseConfig("tokens:\n  - " + entry + "\n", "c", TestEngines()).status().message();
  };
  EXPECT_THAT(bad("{read: [f]}"), HasSubstr("give either 'token' or 'token_sha256'"));
  EXPECT_THAT(bad("{token: secret-token-1, token_sha256: " + std::string(64, 'a') + "}"),
              HasSubstr("give either"));
  EXPECT_THAT(bad("{token_sha256: abc}"), HasSubstr("must be 64 hex digits"));
  EXPECT_THAT(bad("{token_sha256: " + std::string(64, 'g') + "}"), HasSubstr("64 hex digits"));
  EXPECT_THAT(bad("{token: \"secret token\"}"), HasSubstr("no spaces or control characters"));
  EXPECT_THAT(bad("{token: secret-token-1, restore: [\"*\"]}"), HasSubstr("in 'read' only"));
  // The same token in clear and as its digest (printf %s secret-token-1 | sha256sum).
  EXPECT_THAT(ParseConfig("tokens:\n  - {token: secret-token-1, read: [a]}\n"
                          "  - {token_sha256: "
                          "D5BA78D16100079E567F1F7DF974A9C9761AC7AAF871BA9C66BB5FA362374C47, "
                          "read: [b]}\n",
                          "c", TestEngines())
                  .status()
                  .message(),
              HasSubstr("a token is declared twice"));
}

TEST(Config, PlaintextBeyondLoopbackNeedsTlsOrConsent) {
  auto parse = [](const std::string& server) {
    return ParseConfig("server:\n" + server, "c.yaml", TestEngines()).status();
  };
  EXPECT_TRUE(parse("  grpc_listen: 127.0.0.2:1\n  rest_listen: '[::1]:2'\n").ok());
  EXPECT_TRUE(parse("  rest_listen: localhost:2\n").ok());
  absl::Status st = parse("  grpc_listen: 0.0.0.0:50051\n");
  EXPECT_THAT(st.message(), HasSubstr("'0.0.0.0:50051' is not a loopback address"));
  EXPECT_THAT(st.message(), HasSubstr("allow_plaintext"));
  EXPECT_FALSE(parse("  rest_listen: 10.0.0.1:80\n").ok());
  EXPECT_FALSE(parse("  rest_listen: 127.0.0.1.example.com:80\n").ok());
  EXPECT_TRUE(parse("  grpc_listen: 0.0.0.0:1\n  allow_plaintext: true\n").ok());
  EXPECT_TRUE(parse("  grpc_listen: 0.0.0.0:1\n  tls: {cert_file: c.pem, key_file: k.pem}\n").ok());
  EXPECT_THAT(parse("  tls: {cert_file: c.pem}\n").message(), HasSubstr("'key_file' is required"));
  EXPECT_THAT(parse("  rest_listen: 127.0.0.1\n").message(), HasSubstr("must be host:port"));
  EXPECT_THAT(parse("  rest_listen: 127.0.0.1:99999\n").message(), HasSubstr("must be host:port"));
  EXPECT_THAT(parse("  grpc_listen: ':80'\n").message(), HasSubstr("must be host:port"));
}

TEST(Config, LimitsHaveDefaultsAndRanges) {
  auto cfg = ParseConfig("server:\n  limits: {max_request_bytes: 65536, idle_timeout_seconds: 5}\n",
                         "c", TestEngines());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server.limits.max_request_bytes, 65536);
  EXPECT_EQ(cfg->server.limits.idle_timeout_seconds, 5);
  EXPECT_EQ(cfg->server.limits.max_connections_per_address, 64);
  EXPECT_EQ(cfg->server.limits.failed_auth_burst, 20);
  EXPECT_THAT(ParseConfig("server:\n  limits: {max_request_bytes: 10}\n", "c", TestEngines())
                  .status()
                  .message(),
              HasSubstr("'max_request_bytes' must be an integer in 4096.."));
  EXPECT_THAT(
      ParseConfig("server:\n  limits: {max_body: 10}\n", "c", TestEngines()).status().message(),
      HasSubstr("unknown key 'max_body'"));
}

}  // namespace
}  // namespace mdb::common

namespace mdb::common {
namespace {

TEST(Config, LogFormatAndLevel) {
  auto cfg =
      ParseConfig("server:\n  log_format: json\n  log_level: warning\n", "c.yaml", TestEngines());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_TRUE(cfg->server.log.json);
  EXPECT_EQ(cfg->server.log.min_level, LogLevel::kWarning);
  EXPECT_THAT(
      ParseConfig("server:\n  log_level: loud\n", "c.yaml", TestEngines()).status().message(),
      ::testing::HasSubstr("log_level 'loud' is not one of debug, info, warning, error"));
  EXPECT_THAT(
      ParseConfig("server:\n  log_format: xml\n", "c.yaml", TestEngines()).status().message(),
      ::testing::HasSubstr("neither 'text' nor 'json'"));
}

// Restore drills: server.drills, a cluster's drill section, and the rules that keep a drill away
// from any server that is not its own.
TEST(Config, DrillsAndScratchClusters) {
  const char* base = R"(
server:
  drills: {max_concurrent: 2, work_dir: /var/tmp/drills, run_as: nobody, memory_mb: 1024,
           binaries: {redis: /opt/redis/bin}}
clusters:
  - {id: r1, folder_id: f1, engine: redis, hosts: [127.0.0.1:6379], drill: {every_backups: 3}}
  - {id: r2, folder_id: f1, engine: redis, hosts: [127.0.0.1:6380],
     drill: {every_days: 7, target: scratch1, oldest_every: 2}}
  - {id: scratch1, folder_id: f1, engine: redis, scratch: true, hosts: [127.0.0.1:6390]}
)";
  auto cfg = ParseConfig(base, "c.yaml", TestEngines());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server.drills.max_concurrent, 2);
  EXPECT_EQ(cfg->server.drills.run_as, "nobody");
  EXPECT_EQ(cfg->server.drills.binaries.at("redis"), "/opt/redis/bin");
  const ClusterConfig* r1 = cfg->FindCluster("r1");
  EXPECT_EQ(r1->drill.every_backups, 3);
  EXPECT_EQ(r1->drill.target, "local");
  EXPECT_EQ(r1->drill.oldest_every, 4);
  EXPECT_EQ(cfg->FindCluster("r2")->drill.target, "scratch1");
  EXPECT_TRUE(cfg->FindCluster("scratch1")->scratch);
  EXPECT_TRUE(cfg->FindCluster("scratch1")->restore_target);  // never backed up
  EXPECT_FALSE(cfg->FindCluster("r1")->scratch);

  const std::pair<std::string, const char*> bad[] = {
      // a drill into a cluster that is not declared scratch
      {R"(
clusters:
  - {id: r1, folder_id: f1, engine: redis, hosts: [h:1], drill: {every_backups: 1, target: r2}}
  - {id: r2, folder_id: f1, engine: redis, restore_target: true, hosts: [h:2]}
)",
       "not a cluster of the same engine declared 'scratch: true'"},
      // a scratch cluster sharing a server with another cluster
      {R"(
clusters:
  - {id: r1, folder_id: f1, engine: redis, hosts: [h:1]}
  - {id: s1, folder_id: f1, engine: redis, scratch: true, hosts: [h:1]}
)",
       "which cluster 'r1' declares too"},
      // two scratch clusters sharing a server: one drill would empty the other's
      {R"(
clusters:
  - {id: s1, folder_id: f1, engine: redis, scratch: true, hosts: [h:1]}
  - {id: s2, folder_id: f1, engine: redis, scratch: true, hosts: [h:2, h:1]}
)",
       "which cluster 's1' declares too"},
      // a drill section without a trigger
      {R"(
clusters:
  - {id: r1, folder_id: f1, engine: redis, hosts: [h:1], drill: {target: local}}
)",
       "set 'every_backups' or 'every_days'"},
      // a restore target has nothing to drill
      {R"(
clusters:
  - {id: r1, folder_id: f1, engine: redis, scratch: true, hosts: [h:1], drill: {every_days: 1}}
)",
       "a restore target has no backups to drill"},
      // an engine without throwaway servers of its own
      {R"(
clusters:
  - {id: o1, folder_id: f1, engine: opensearch, hosts: [h:1], drill: {every_days: 1}}
)",
       "not drilled `local`"},
      {R"(
server:
  drills: {binaries: {redis: relative/path}}
)",
       "must be an absolute path"},
  };
  for (const auto& [text, want] : bad) {
    auto parsed = ParseConfig(text, "c.yaml", TestEngines());
    EXPECT_FALSE(parsed.ok()) << text;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(want)) << text;
  }
}

}  // namespace
}  // namespace mdb::common
