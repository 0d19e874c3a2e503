#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
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

void Sql(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* c = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &c), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(c, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(c);
}

// The first column of each row of `sql`, as text.
std::vector<std::string> Query(const std::filesystem::path& db, const std::string& sql) {
  std::vector<std::string> out;
  sqlite3* c = nullptr;
  EXPECT_EQ(sqlite3_open(db.c_str(), &c), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(c, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(c);
  while (s && sqlite3_step(s) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(s, sqlite3_column_count(s) - 1);
    out.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
  }
  sqlite3_finalize(s);
  sqlite3_close(c);
  return out;
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

// A fresh catalog at `db` holding backups b1 and b2.
std::unique_ptr<Catalog> OpenWithTwoBackups(const std::filesystem::path& db) {
  auto catalog = OpenSqliteCatalog(db.string());
  EXPECT_TRUE(catalog.ok()) << catalog.status();
  if (!catalog.ok()) return nullptr;
  EXPECT_TRUE((*catalog)->PutBackups({Backup("b1", 1), Backup("b2", 2)}).ok());
  return std::move(*catalog);
}

// A List that holds whatever it is asked about, recording what it was asked.
ListQuery HoldingEverything(std::vector<RecordDigest>* asked) {
  ListQuery q{.engine = Engine::REDIS, .folder_id = "f1", .unparsed = true};
  q.known = [asked](const RecordDigest& digest) {
    asked->push_back(digest);
    return true;
  };
  return q;
}

// Schema 5 keeps each record's digest in the listing indexes. A catalog of schema 4 (no digest)
// gets its rows' digests when opened, and lists from the index alone: records the caller holds
// are not read.
TEST(SqliteCatalog, RecordsOfAnOlderSchemaGetTheirDigestsAndListFromTheIndex) {
  auto dir = common::FreshTestDir("sqlite_catalog_digest");
  auto db = dir / "catalog.db";
  ASSERT_NE(OpenWithTwoBackups(db), nullptr);  // closed again before it is taken back to 4
  Sql(db, R"sql(
    DROP TRIGGER backups_version_insert;
    DROP TRIGGER backups_version_update;
    DROP TRIGGER backups_version_delete;
    DELETE FROM meta WHERE key = 'backups_version';
    DROP TRIGGER backups_digest_follows_record;
    DROP INDEX backups_by_cluster_folder;
    DROP INDEX backups_by_folder;
    DROP INDEX backups_by_cluster;
    ALTER TABLE backups DROP COLUMN digest;
    CREATE INDEX backups_by_folder ON backups(engine, folder_id, created_ns DESC, seq DESC);
    CREATE INDEX backups_by_cluster ON backups(engine, cluster_id, created_ns DESC, seq DESC);
    PRAGMA user_version = 4;
  )sql");
  auto catalog = OpenSqliteCatalog(db.string());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(Query(db, "PRAGMA user_version"), std::vector<std::string>{"7"});
  EXPECT_EQ(Query(db, "SELECT count(*) FROM backups WHERE length(digest) IS NOT 16"),
            std::vector<std::string>{"0"});
  for (const char* by : {"folder_id", "cluster_id"}) {
    auto plan = Query(db, absl::StrCat("EXPLAIN QUERY PLAN SELECT seq, created_ns, digest FROM "
                                       "backups WHERE engine = 3 AND ",
                                       by,
                                       " = 'x' AND (created_ns, seq) < (1, 2) ORDER BY "
                                       "created_ns DESC, seq DESC LIMIT 101"));
    ASSERT_EQ(plan.size(), 1u);
    EXPECT_NE(plan[0].find("COVERING INDEX"), std::string::npos) << plan[0];
  }
  // A cluster's walk within a folder (schema 7), as ListBackups asks it.
  auto plan = Query(db,
                    "EXPLAIN QUERY PLAN SELECT seq, created_ns, digest FROM backups INDEXED BY "
                    "backups_by_cluster_folder WHERE engine = 3 AND cluster_id = 'c' AND "
                    "folder_id = 'f' AND (created_ns, seq) < (1, 2) ORDER BY created_ns DESC, seq "
                    "DESC LIMIT 101");
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_NE(plan[0].find("COVERING INDEX backups_by_cluster_folder"), std::string::npos) << plan[0];
  std::vector<RecordDigest> asked;
  auto page = (*catalog)->ListBackups(HoldingEverything(&asked));
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->digests.size(), 2u);
  EXPECT_EQ(asked, page->digests);
  EXPECT_EQ(page->digests[0], DigestOf(Backup("b2", 2).SerializeAsString()));
  EXPECT_EQ(page->digests[1], DigestOf(Backup("b1", 1).SerializeAsString()));
  EXPECT_EQ(page->records, (std::vector<std::string>{"", ""}));  // held: not read
  std::filesystem::remove_all(dir);
}

// A record rewritten in the file without its digest (by hand, or by an older binary still
// running) loses the digest, and such a row is read and named by its bytes, held or not.
TEST(SqliteCatalog, ARecordRewrittenWithoutItsDigestIsReadAgain) {
  auto dir = common::FreshTestDir("sqlite_catalog_digest_lost");
  auto db = dir / "catalog.db";
  std::unique_ptr<Catalog> catalog = OpenWithTwoBackups(db);
  ASSERT_NE(catalog, nullptr);
  BackupRecord edited = Backup("b2", 2);
  edited.set_size(99);
  Sql(db, absl::StrCat("UPDATE backups SET record = x'",
                       absl::BytesToHexString(edited.SerializeAsString()), "' WHERE id = 'b2'"));
  EXPECT_EQ(Query(db, "SELECT count(*) FROM backups WHERE digest IS NULL"),
            std::vector<std::string>{"1"});
  std::vector<RecordDigest> asked;
  auto page = catalog->ListBackups(HoldingEverything(&asked));
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(asked, page->digests);
  EXPECT_EQ(page->records[0], edited.SerializeAsString());  // read, whatever `known` said
  EXPECT_EQ(page->digests[0], DigestOf(page->records[0]));
  EXPECT_TRUE(page->records[1].empty());  // b1 untouched: held
  // The service's own writes keep the digest (the trigger leaves them alone).
  ASSERT_TRUE(catalog->PutBackup(edited).ok());
  EXPECT_EQ(Query(db, "SELECT count(*) FROM backups WHERE digest IS NULL"),
            std::vector<std::string>{"0"});
  std::filesystem::remove_all(dir);
}

// A listing that stops mid-page on a corrupt record leaves no statement mid-result: the
// connection goes back to the pool outside any read, and its next read sees what was
// committed since (a statement left open would pin it to the old snapshot).
TEST(SqliteCatalog, AWalkStoppedByACorruptRecordLeavesNoSnapshotOpen) {
  auto dir = common::FreshTestDir("sqlite_catalog_stopped");
  auto db = dir / "catalog.db";
  std::unique_ptr<Catalog> catalog = OpenWithTwoBackups(db);
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->PutBackup(Backup("b0", 0)).ok());
  Sql(db, "UPDATE backups SET record = x'ffffff' WHERE id = 'b1'");  // the page's second row
  auto page = catalog->ListBackups({.engine = Engine::REDIS, .folder_id = "f1"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kDataLoss) << page.status();
  {
    auto other = OpenSqliteCatalog(db.string());
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_TRUE((*other)->PutBackup(Backup("b9", 9)).ok());
  }
  EXPECT_TRUE(catalog->GetBackup("b9").ok());
  std::filesystem::remove_all(dir);
}

int64_t VersionOf(Catalog* catalog) {
  auto version = catalog->BackupsVersion();
  EXPECT_TRUE(version.ok()) << version.status();
  EXPECT_TRUE(version.ok() && version->has_value());
  return version.ok() && version->has_value() ? **version : -1;
}

// What the API keeps whole pages of listings by: another number after every change to backups,
// whoever makes it (this catalog, another process on the file, an edit by hand), the same number
// while none is made (reads, operations).
TEST(SqliteCatalog, BackupsVersionMovesWithEveryChangeToBackupsByAnyWriter) {
  auto dir = common::FreshTestDir("sqlite_catalog_version");
  auto db = dir / "catalog.db";
  std::unique_ptr<Catalog> catalog = OpenWithTwoBackups(db);
  ASSERT_NE(catalog, nullptr);
  int64_t v = VersionOf(catalog.get());
  auto moved = [&](const char* what) {
    int64_t now = VersionOf(catalog.get());
    EXPECT_NE(now, v) << what;
    v = now;
  };
  auto same = [&](const char* what) { EXPECT_EQ(VersionOf(catalog.get()), v) << what; };

  ASSERT_TRUE(catalog->GetBackup("b1").ok());
  ASSERT_TRUE(catalog->ListBackups({.engine = Engine::REDIS, .folder_id = "f1"}).ok());
  OperationRecord op;
  op.operation.set_id("op1");
  op.folder_id = "f1";
  ASSERT_TRUE(catalog->PutOperation(op).ok());
  same("reads and an operation");
  ASSERT_TRUE(catalog->PutBackup(Backup("b3", 3)).ok());
  moved("an insert");
  ASSERT_TRUE(catalog->PutBackup(Backup("b3", 3)).ok());
  moved("a record written again");
  ASSERT_TRUE(catalog
                  ->ModifyBackup("b3",
                                 [](BackupRecord* r) {
                                   r->set_size(7);
                                   return absl::OkStatus();
                                 })
                  .ok());
  moved("a modify");
  ASSERT_TRUE(catalog->DeleteBackup("b3").ok());
  moved("a delete");
  {
    auto other = OpenSqliteCatalog(db.string());  // `catalog import` beside a running service
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_TRUE((*other)->PutBackup(Backup("b4", 4)).ok());
  }
  moved("another process's insert");
  Sql(db, "UPDATE backups SET record = x'' WHERE id = 'b4'");
  moved("an edit by hand");
  Sql(db, "DELETE FROM backups");  // (SQLite's truncation would skip row triggers)
  moved("every row deleted by hand");
  // Triggers (and the version) dropped by hand while the catalog was closed are back when it is
  // opened again, before anything can be kept by the version.
  catalog.reset();
  Sql(db, "DROP TRIGGER backups_version_update; DELETE FROM meta WHERE key = 'backups_version'");
  auto reopened = OpenSqliteCatalog(db.string());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  catalog = std::move(*reopened);
  v = VersionOf(catalog.get());
  ASSERT_TRUE(catalog->PutBackup(Backup("b5", 5)).ok());
  moved("an insert after the triggers were dropped");
  ASSERT_TRUE(catalog->PutBackup(Backup("b5", 6)).ok());
  moved("an update after the triggers were dropped");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::catalog
