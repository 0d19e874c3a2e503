#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "common/test_dir.h"

namespace mdb::catalog {
namespace {

// What only the SQLite catalog promises (the contract itself: catalog_conformance_test.cc).
// The catalog holds the page-token key: never readable by others, whatever the umask.
TEST(SqliteCatalog, TheCatalogFileIsForItsOwnerOnly) {
  auto dir = common::FreshTestDir("sqlite_catalog");
  mode_t old = umask(0);
  auto catalog = OpenSqliteCatalog((dir / "catalog.db").string());
  umask(old);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  struct stat st {};
  ASSERT_EQ(stat((dir / "catalog.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove_all(dir);
}

void Sql(const std::filesystem::path& db, const char* sql) {
  sqlite3* c = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &c), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(c, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(c);
}

BackupRecord Backup(const std::string& id, int64_t seconds) {
  BackupRecord r;
  r.set_id(id);
  r.set_engine(Engine::REDIS);
  r.set_folder_id("f1");
  r.set_cluster_id("c1");
  r.mutable_created_at()->set_seconds(seconds);
  return r;
}

// Schema 5 keeps each record's digest in the listing indexes. A catalog of schema 4 (no digest)
// gets its rows' digests when opened; a row whose digest is missing anyway (written by hand) is
// read from the table and named by the digest of its bytes, never taken for one the caller holds.
TEST(SqliteCatalog, RecordsOfAnOlderSchemaGetTheirDigests) {
  auto dir = common::FreshTestDir("sqlite_catalog_digest");
  auto db = dir / "catalog.db";
  {
    auto catalog = OpenSqliteCatalog(db.string());
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    ASSERT_TRUE((*catalog)->PutBackups({Backup("b1", 1), Backup("b2", 2)}).ok());
  }
  Sql(db, R"sql(
    DROP INDEX backups_by_folder;
    DROP INDEX backups_by_cluster;
    ALTER TABLE backups DROP COLUMN digest;
    CREATE INDEX backups_by_folder ON backups(engine, folder_id, created_ns DESC, seq DESC);
    CREATE INDEX backups_by_cluster ON backups(engine, cluster_id, created_ns DESC, seq DESC);
    PRAGMA user_version = 4;
  )sql");
  auto catalog = OpenSqliteCatalog(db.string());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  std::vector<RecordDigest> asked;
  ListQuery q{.engine = Engine::REDIS, .folder_id = "f1", .unparsed = true};
  q.known = [&](const RecordDigest& digest) {
    asked.push_back(digest);
    return true;  // holds everything it is asked about
  };
  auto page = (*catalog)->ListBackups(q);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->digests.size(), 2u);
  EXPECT_EQ(asked, page->digests);
  EXPECT_EQ(page->digests[0], DigestOf(Backup("b2", 2).SerializeAsString()));
  EXPECT_EQ(page->digests[1], DigestOf(Backup("b1", 1).SerializeAsString()));

  catalog->reset();
  Sql(db, "UPDATE backups SET digest = NULL WHERE id = 'b2'");
  catalog = OpenSqliteCatalog(db.string());
  ASSERT_TRUE(catalog.ok());
  asked.clear();
  page = (*catalog)->ListBackups(q);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(asked, page->digests);
  EXPECT_EQ(page->records[0], Backup("b2", 2).SerializeAsString());  // read, whatever `known` says
  EXPECT_EQ(page->digests[0], DigestOf(page->records[0]));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::catalog
