// The catalog rebuilt from the repository alone: the record a backup had at commit, from its
// manifest; nothing listed twice; journal pieces and foreign manifests left alone.
#include "ops/reconcile.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/test_dir.h"
#include "common/time_util.h"
#include "engine/all.h"
#include "google/protobuf/util/message_differencer.h"
#include "storage/posix/posix_storage.h"
#include "yandex/cloud/mdb/opensearch/v1/backup.pb.h"

namespace mdb::ops {
namespace {

namespace fs = std::filesystem;

class ReconcileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = common::FreshTestDir("reconcile");
    storage_ = std::move(*storage::OpenPosixStorage((dir_ / "repo").string()));
    repo_ = std::move(*repo::Repository::Init(storage_.get(), {}));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<catalog::Catalog> Catalog(const std::string& name) {
    return std::move(*catalog::OpenSqliteCatalog((dir_ / name).string()));
  }

  // Commits a backup the way Jobs::Backup does and returns the record it put in the catalog.
  catalog::BackupRecord Commit(const std::string& id, const std::string& stream,
                               const std::string& parent = "") {
    auto w = std::move(*repo_->StartBackup({.backup_id = id, .parent_id = parent}));
    io::StringSource src(std::string(50000, 'x') + id);
    EXPECT_TRUE(w->AddStream(stream, &src).ok());
    catalog::BackupRecord partial;
    partial.set_engine(catalog::Engine::REDIS);
    partial.set_folder_id("f1");
    partial.set_cluster_id("c1");
    partial.set_type(catalog::BackupRecord::AUTOMATED);
    partial.set_method(parent.empty() ? catalog::BackupRecord::BASE
                                      : catalog::BackupRecord::INCREMENTAL);
    partial.set_logical_size(-1);
    partial.set_restore_size(777);
    partial.add_source_shard_names("shard1");
    yandex::cloud::mdb::opensearch::v1::Backup engine_fields;
    engine_fields.add_indices("logs-1");
    engine_fields.set_opensearch_version("2.19.1");
    partial.mutable_engine_fields()->PackFrom(engine_fields);
    auto m = w->Commit("engine-meta", stream == "journal/x" ? "" : ServiceRecord(partial));
    EXPECT_TRUE(m.ok()) << m.status();
    auto rec = RecordFromManifest(*m);
    return rec.ok() ? *rec : catalog::BackupRecord();
  }

  fs::path dir_;
  std::unique_ptr<storage::Storage> storage_;
  std::unique_ptr<repo::Repository> repo_;
};

TEST_F(ReconcileTest, AnEmptyCatalogGetsEveryBackupBackFieldByField) {
  auto live = Catalog("live.db");
  std::vector<catalog::BackupRecord> made = {Commit("b1", "rdb"), Commit("b2", "rdb", "b1")};
  for (const auto& r : made) ASSERT_TRUE(live->PutBackup(r).ok());
  Commit("wal.c1.shard1.000000010000000000000001", "journal/x");  // a journal piece
  {
    // A manifest no service wrote (repo backup from the CLI): reported, not listed.
    auto w = std::move(*repo_->StartBackup({.backup_id = "by-hand"}));
    io::StringSource src("data");
    ASSERT_TRUE(w->AddStream("0", &src).ok());
    ASSERT_TRUE(w->Commit("").ok());
  }

  auto rebuilt = Catalog("rebuilt.db");
  auto report = Reconcile(rebuilt.get(), repo_.get(), {}, engine::BuiltInEngines());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->added, (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(report->unrecorded, std::vector<std::string>{"by-hand"});
  for (const auto& want : made) {
    auto got = rebuilt->GetBackup(want.id());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*got, want))
        << got->DebugString() << "\nvs\n"
        << want.DebugString();
  }
  EXPECT_EQ(rebuilt->GetBackup("b2")->parent_id(), "b1");
  EXPECT_EQ(rebuilt->GetBackup("b1")->restore_size(), 777);
  EXPECT_GT(rebuilt->GetBackup("b1")->logical_size(), 50000);  // -1 became the manifest's

  // Run again (every start does): nothing is added twice.
  auto again = Reconcile(rebuilt.get(), repo_.get(), {}, engine::BuiltInEngines());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->added.empty());
}

TEST_F(ReconcileTest, ARebuiltCatalogKeepsWhatTheDrillsProved) {
  catalog::BackupRecord drilled = Commit("drilled", "rdb");
  Commit("never", "rdb");
  Commit("damaged", "rdb");
  Commit("future", "rdb");
  mdb_backup::v1::Verification v;
  *v.mutable_verified_at() = common::ToProto(absl::Now());
  v.set_ok(true);
  v.set_target("local");
  v.set_duration_ms(1234);
  v.add_checked("keys per database");
  ASSERT_TRUE(repo_->PutVerification("drilled", v.SerializeAsString()).ok());
  ASSERT_TRUE(repo_->PutVerification("damaged", "\xff\xff not a message").ok());
  // Verified in a year: no drill's (it would keep the scheduler from drilling the cluster).
  mdb_backup::v1::Verification forged = v;
  *forged.mutable_verified_at() = common::ToProto(absl::Now() + absl::Hours(24 * 365));
  ASSERT_TRUE(repo_->PutVerification("future", forged.SerializeAsString()).ok());
  auto rebuilt = Catalog("rebuilt.db");
  auto report = Reconcile(rebuilt.get(), repo_.get(), {}, engine::BuiltInEngines());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->added.size(), 4u);
  auto got = rebuilt->GetBackup("drilled");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got->verification(), v))
      << got->verification().DebugString();
  EXPECT_FALSE(rebuilt->GetBackup("never")->has_verification());
  // A damaged one is reported; the backup is listed without it.
  EXPECT_FALSE(rebuilt->GetBackup("damaged")->has_verification());
  EXPECT_FALSE(rebuilt->GetBackup("future")->has_verification());
  ASSERT_EQ(report->unreadable.size(), 2u);
  EXPECT_NE(report->unreadable[0].find("damaged: its verification"), std::string::npos);
  EXPECT_NE(report->unreadable[1].find("future: its verification"), std::string::npos);
}

TEST_F(ReconcileTest, ACrashBeforeTheCatalogInsertLeavesNoOrphan) {
  auto catalog = Catalog("catalog.db");
  ASSERT_TRUE(catalog->PutBackup(Commit("listed", "rdb")).ok());
  catalog::BackupRecord orphan = Commit("orphan", "rdb");  // the process died before its row
  catalog::BackupRecord imported;
  imported.set_id("imported");
  imported.set_engine(catalog::Engine::REDIS);
  imported.set_folder_id("f1");
  imported.set_cluster_id("c1");
  ASSERT_TRUE(catalog->PutBackup(imported).ok());
  common::ClusterConfig c1{.id = "c1", .folder_id = "f1", .engine = catalog::Engine::REDIS};
  auto report = Reconcile(catalog.get(), repo_.get(), {c1}, engine::BuiltInEngines());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->added, std::vector<std::string>{"orphan"});
  EXPECT_EQ(report->missing, std::vector<std::string>{"imported"});
  EXPECT_TRUE(catalog->GetBackup("orphan").ok());
}

}  // namespace
}  // namespace mdb::ops
