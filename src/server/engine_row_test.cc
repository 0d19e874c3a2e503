// The one-row claim: an engine no production code names (engine/fake/: its folder, its protos, its
// row) is served end to end once its row is in the table mdb-backupd is given: config parsing,
// endpoint discovery, gRPC and REST routes, the Backup mapping with the engine's own field, and
// backup, restore and delete through operations.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/test_dir.h"
#include "engine/all.h"
#include "engine/fake/fake_engine.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "mdb_backup/fake/v1/fake.grpc.pb.h"
#include "server/server.h"
#include "yandex/cloud/endpoint/api_endpoint_service.grpc.pb.h"
#include "yandex/cloud/operation/operation_service.grpc.pb.h"

namespace mdb::server {
namespace {

namespace fs = std::filesystem;
namespace fake = mdb_backup::fake::v1;
namespace yop = yandex::cloud::operation;
using ::testing::HasSubstr;

constexpr char kToken[] = "Bearer fake-writer-token";

engine::EngineRegistry WithFake() {
  std::vector<engine::EngineModule> rows = engine::BuiltInModules();
  rows.push_back(engine::fake::Module());  // the one row
  return *engine::EngineRegistry::Make(std::move(rows));
}

class EngineRowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = common::FreshTestDir("engine_row");
    fs::create_directories(dir_ / "src" / "s1");
    std::ofstream(dir_ / "src" / "s1" / "data.bin") << "fake engine data";
    config_ = dir_ / "mdb.yaml";
    std::ofstream(config_) << absl::StrCat(R"(
server:
  grpc_listen: 127.0.0.1:0
  rest_listen: 127.0.0.1:0
  catalog: catalog.db
  repository: repo
  worker_threads: 2
  automated_backups: false
tokens:
  - {token: fake-writer-token, read: [f1], write: [f1]}
clusters:
  - id: fake1
    folder_id: f1
    engine: fake
    shards: [{name: s1, hosts: [{address: "local:1", dir: ")",
                                           (dir_ / "src" / "s1").string(), R"("}]}]
  - id: fake2
    folder_id: f1
    engine: fake
    shards: [{name: s1, hosts: [{address: "local:2", dir: ")",
                                           (dir_ / "dst" / "s1").string(), R"("}]}]
)");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Polls the operation until done; returns it.
  yop::Operation Wait(yop::OperationService::Stub* ops, yop::Operation op) {
    for (absl::Time give_up = absl::Now() + absl::Seconds(30);
         !op.done() && absl::Now() < give_up;) {
      absl::SleepFor(absl::Milliseconds(20));
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", kToken);
      yop::GetOperationRequest req;
      req.set_operation_id(op.id());
      EXPECT_TRUE(ops->Get(&ctx, req, &op).ok());
    }
    EXPECT_TRUE(op.done());
    EXPECT_FALSE(op.has_error()) << op.error().message();
    return op;
  }

  fs::path dir_, config_;
};

TEST_F(EngineRowTest, TheConfigKnowsTheEngineByItsRowAlone) {
  engine::EngineRegistry engines = WithFake();
  EXPECT_TRUE(common::LoadConfig(config_.string(), engines.table()).ok());
  // Without the row, the same config names an unknown engine, and the message lists the rows.
  auto without = common::LoadConfig(config_.string(), engine::BuiltInEngines().table());
  EXPECT_THAT(without.status().message(), HasSubstr("unknown engine 'fake'"));
  EXPECT_THAT(without.status().message(), HasSubstr("greenplum, mongodb, redis, opensearch"));
  // A second row that repeats a name is a wiring mistake, refused at start-up.
  std::vector<engine::EngineModule> twice = {engine::fake::Module(), engine::fake::Module()};
  EXPECT_THAT(engine::EngineRegistry::Make(twice).status().message(), HasSubstr("repeats"));
}

TEST_F(EngineRowTest, BackupRestoreAndDeleteOverGrpcAndRest) {
  engine::EngineRegistry engines = WithFake();
  auto server = Server::Create(config_.string(), engines);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Start().ok());
  auto channel = grpc::CreateChannel((*server)->grpc_address(), grpc::InsecureChannelCredentials());
  auto clusters = fake::ClusterService::NewStub(channel);
  auto backups = fake::BackupService::NewStub(channel);
  auto ops = yop::OperationService::NewStub(channel);

  {  // The SDKs find the engine's endpoint by its row's id.
    auto endpoints = yandex::cloud::endpoint::ApiEndpointService::NewStub(channel);
    grpc::ClientContext ctx;
    yandex::cloud::endpoint::GetApiEndpointRequest req;
    req.set_api_endpoint_id("fake");
    yandex::cloud::endpoint::ApiEndpoint e;
    EXPECT_TRUE(endpoints->Get(&ctx, req, &e).ok());
  }

  // Backup over gRPC: an operation whose metadata is the engine's own type.
  yop::Operation op;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", kToken);
    fake::BackupClusterRequest req;
    req.set_cluster_id("fake1");
    grpc::Status st = clusters->Backup(&ctx, req, &op);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  fake::BackupClusterMetadata meta;
  ASSERT_TRUE(op.metadata().UnpackTo(&meta));
  EXPECT_EQ(meta.cluster_id(), "fake1");
  op = Wait(ops.get(), op);

  // Listed with the record's fields under the engine's names, and the field only it has.
  fake::ListBackupsResponse list;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", kToken);
    fake::ListBackupsRequest req;
    req.set_folder_id("f1");
    ASSERT_TRUE(backups->List(&ctx, req, &list).ok());
  }
  ASSERT_EQ(list.backups_size(), 1);
  const fake::Backup& b = list.backups(0);
  EXPECT_EQ(b.source_cluster_id(), "fake1");
  EXPECT_EQ(b.type(), fake::Backup::MANUAL);
  EXPECT_GT(b.size_bytes(), 0);
  ASSERT_EQ(b.source_shard_names_size(), 1);
  EXPECT_EQ(b.source_shard_names(0), "s1");
  EXPECT_EQ(b.flavour(), "vanilla");
  EXPECT_TRUE(b.has_created_at() && b.has_started_at());

  // The same backup over REST, at the row's prefix, in the contract's JSON.
  httplib::Client rest("http://" + (*server)->rest_address());
  auto got = rest.Get("/fake/v1/backups/" + b.id(), {{"Authorization", kToken}});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200) << got->body;
  EXPECT_THAT(got->body, HasSubstr("\"flavour\":\"vanilla\""));
  EXPECT_THAT(got->body, HasSubstr("\"sourceClusterId\":\"fake1\""));

  // Restore into the other declared cluster: the driver gets the data back.
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", kToken);
    fake::RestoreClusterRequest req;
    req.set_backup_id(b.id());
    req.set_name("fake2");
    ASSERT_TRUE(clusters->Restore(&ctx, req, &op).ok());
  }
  Wait(ops.get(), op);
  std::ifstream restored(dir_ / "dst" / "s1" / "data.bin");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(restored), {}), "fake engine data");

  // Delete over REST; the list is empty afterwards.
  auto del = rest.Delete("/fake/v1/backups/" + b.id(), {{"Authorization", kToken}});
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 200) << del->body;
  yop::Operation del_op;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(del->body, &del_op).ok());
  Wait(ops.get(), del_op);
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", kToken);
    fake::ListClusterBackupsRequest req;
    req.set_cluster_id("fake1");
    fake::ListClusterBackupsResponse after;
    ASSERT_TRUE(clusters->ListBackups(&ctx, req, &after).ok());
    EXPECT_EQ(after.backups_size(), 0);
  }
  (*server)->Shutdown();
}

}  // namespace
}  // namespace mdb::server
