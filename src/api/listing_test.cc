// Api::List over a real SQLite catalog: pages are kept between calls while no backup changes,
// and a change committed while a page is being read shows in the next listing, over either
// transport's way of taking the response.
#include <gtest/gtest.h>

#include <functional>

#include "api/api.h"
#include "catalog/forwarding_catalog.h"
#include "common/test_dir.h"
#include "common/test_engines.h"
#include "yandex/cloud/mdb/redis/v1/backup_service.pb.h"

namespace mdb::api {
namespace {

namespace rd = yandex::cloud::mdb::redis::v1;

catalog::BackupRecord Backup(const std::string& id, int64_t seconds) {
  catalog::BackupRecord r;
  r.set_id(id);
  r.set_engine(catalog::Engine::REDIS);
  r.set_folder_id("f1");
  r.set_cluster_id("rd1");
  r.mutable_created_at()->set_seconds(seconds);
  return r;
}

// The SQLite catalog, counting the pages it reads and running `after_read` (once) right after
// one: a writer that commits while a List is between its reads.
class Watched final : public catalog::ForwardingCatalog {
 public:
  using ForwardingCatalog::ForwardingCatalog;
  int pages_read = 0;
  std::function<void()> after_read;
  bool without_version = false;

  absl::StatusOr<catalog::ListPage> ListBackups(const catalog::ListQuery& q) override {
    ++pages_read;
    auto page = ForwardingCatalog::ListBackups(q);
    if (auto run = std::move(after_read)) {
      after_read = nullptr;
      run();
    }
    return page;
  }
  absl::StatusOr<std::optional<int64_t>> BackupsVersion() override {
    if (without_version) return absl::UnavailableError("the version cannot be read");
    return ForwardingCatalog::BackupsVersion();
  }
};

class ListingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = common::FreshTestDir("api_listing");
    auto cfg = common::ParseConfig(R"(
tokens:
  - {token: reader-token, read: [f1]}
clusters:
  - {id: rd1, folder_id: f1, engine: redis, hosts: ["h:1"]}
)",
                                   "t.yaml", common::TestEngines());
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    auto opened = catalog::OpenSqliteCatalog((dir_ / "c.db").string());
    ASSERT_TRUE(opened.ok()) << opened.status();
    real_ = std::move(*opened);
    ASSERT_TRUE(real_->PutBackups({Backup("b1", 1), Backup("b2", 2)}).ok());
    watched_ = std::make_unique<Watched>(real_.get());
    api_ =
        std::make_unique<Api>(watched_.get(), nullptr, nullptr,
                              std::make_shared<const common::Config>(*cfg), common::TestEngines());
  }
  void TearDown() override {
    api_.reset();
    watched_.reset();
    real_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The ids of folder f1's first page, as a gRPC client (spliced bytes) or REST reads them.
  std::vector<std::string> Listed(bool spliced) {
    rd::ListBackupsRequest req;
    req.set_folder_id("f1");
    rd::ListBackupsResponse resp;
    SplicedField field;
    const auto* method = rd::ListBackupsRequest::descriptor()
                             ->file()
                             ->FindServiceByName("BackupService")
                             ->FindMethodByName("List");
    absl::Status st = api_->Call(method,
                                 {.authorization = "Bearer reader-token",
                                  .address = "127.0.0.1",
                                  .spliced = spliced ? &field : nullptr},
                                 req, &resp);
    EXPECT_TRUE(st.ok()) << st;
    std::vector<std::string> ids;
    for (const auto& b : resp.backups()) ids.push_back(b.id());
    for (const auto& bytes : field.items) {
      rd::Backup b;
      EXPECT_TRUE(b.ParseFromString(*bytes));
      ids.push_back(b.id());
    }
    return ids;
  }

  std::filesystem::path dir_;
  std::unique_ptr<catalog::Catalog> real_;
  std::unique_ptr<Watched> watched_;
  std::unique_ptr<Api> api_;
};

using Ids = std::vector<std::string>;

TEST_F(ListingTest, APageIsReadOnceWhileNoBackupChanges) {
  for (bool spliced : {true, false, true}) EXPECT_EQ(Listed(spliced), (Ids{"b2", "b1"}));
  EXPECT_EQ(watched_->pages_read, 1);
  ASSERT_TRUE(real_->PutBackup(Backup("b3", 3)).ok());
  EXPECT_EQ(Listed(false), (Ids{"b3", "b2", "b1"}));
  EXPECT_EQ(Listed(true), (Ids{"b3", "b2", "b1"}));
  EXPECT_EQ(watched_->pages_read, 2);
}

// The version is read before the page: a change committed after the page was read and before
// the version would be (read in the other order) leaves the page it read kept under the
// version that names the change, and so shown without the change until the next one.
TEST_F(ListingTest, AChangeCommittedWhileAPageIsReadShowsInTheNextListing) {
  watched_->after_read = [this] { ASSERT_TRUE(real_->PutBackup(Backup("b3", 3)).ok()); };
  EXPECT_EQ(Listed(true), (Ids{"b2", "b1"}));  // read before the change
  EXPECT_EQ(Listed(true), (Ids{"b3", "b2", "b1"}));
  EXPECT_EQ(Listed(false), (Ids{"b3", "b2", "b1"}));
}

TEST_F(ListingTest, WithoutAVersionEveryListingReadsTheCatalog) {
  watched_->without_version = true;  // and that is no error of the listing's
  for (bool spliced : {true, false, true}) EXPECT_EQ(Listed(spliced), (Ids{"b2", "b1"}));
  EXPECT_EQ(watched_->pages_read, 3);
}

}  // namespace
}  // namespace mdb::api
