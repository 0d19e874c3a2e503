// The fixture of the catalog conformance suites (catalog_conformance_test.cc for backups and
// exclusive use, catalog_operations_test.cc for operations and leases).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/test_postgres.h"
#include "common/test_dir.h"
#include "common/time_util.h"

namespace mdb::catalog {

// The catalog contract, run on every catalog: SQLite (the embedded default) and PostgreSQL (a
// real server, catalog/test_postgres.h). Each test gets a fresh catalog.
class CatalogFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = common::FreshTestDir("catalog");
    location_ = GetParam() == "sqlite" ? (dir_ / "catalog.db").string()
                                       : TestPostgres::Get()->NewDatabase();
    ASSERT_FALSE(location_.empty());
    Reopen();
  }
  void TearDown() override {
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }
  absl::StatusOr<std::unique_ptr<Catalog>> Open() {
    return GetParam() == "sqlite" ? OpenSqliteCatalog(location_) : OpenPostgresCatalog(location_);
  }
  void Reopen() {
    catalog_.reset();
    auto c = Open();
    ASSERT_TRUE(c.ok()) << c.status();
    catalog_ = std::move(*c);
  }
  BackupRecord Make(const std::string& id, int64_t created_s, const std::string& folder = "f1",
                    Engine engine = Engine::REDIS) {
    BackupRecord r;
    r.set_id(id);
    r.set_engine(engine);
    r.set_folder_id(folder);
    r.set_cluster_id("c-" + folder);
    *r.mutable_created_at() = common::FromUnixNanos(created_s * 1'000'000'000);
    return r;
  }
  std::vector<std::string> Walk(ListQuery q, int* pages = nullptr) {
    std::vector<std::string> ids;
    for (int n = 0;; ++n) {
      auto page = catalog_->ListBackups(q);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) return ids;
      for (const auto& b : page->backups) ids.push_back(b.id());
      if (page->next_page_token.empty()) {
        if (pages) *pages = n + 1;
        return ids;
      }
      q.page_token = page->next_page_token;
    }
  }

  std::filesystem::path dir_;
  std::string location_;
  std::unique_ptr<Catalog> catalog_;
};

}  // namespace mdb::catalog
