#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "catalog/catalog.h"
#include "catalog/catalog_test_fixture.h"
#include "catalog/test_postgres.h"
#include "common/test_dir.h"
#include "common/time_util.h"

namespace mdb::catalog {
namespace {

// Started before main (registered with gtest), on the first test that needs it.
const auto* const kPostgres = TestPostgres::Get();

class CatalogTest : public CatalogFixture {};

TEST_P(CatalogTest, ListsEveryBackupIdAcrossFoldersAndEngines) {
  ASSERT_TRUE(catalog_->PutBackup(Make("a", 1, "f1")).ok());
  ASSERT_TRUE(catalog_->PutBackup(Make("b", 2, "f2", Engine::GREENPLUM)).ok());
  ASSERT_TRUE(catalog_->PutBackup(Make("c", 3, "f1")).ok());
  ASSERT_TRUE(catalog_->DeleteBackup("c").ok());
  auto ids = catalog_->ListAllBackupIds();
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(std::set<std::string>(ids->begin(), ids->end()), (std::set<std::string>{"a", "b"}));
}

TEST_P(CatalogTest, GetPutReplaceDelete) {
  EXPECT_EQ(catalog_->GetBackup("b1").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(catalog_->PutBackup(Make("b1", 10)).ok());
  BackupRecord changed = Make("b1", 10);
  changed.set_size(123);
  ASSERT_TRUE(catalog_->PutBackup(changed).ok());
  auto got = catalog_->GetBackup("b1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 123);
  ASSERT_TRUE(catalog_->DeleteBackup("b1").ok());
  EXPECT_EQ(catalog_->DeleteBackup("b1").code(), absl::StatusCode::kNotFound);
}

TEST_P(CatalogTest, ModifyChangesAnExistingRecordAndNeverInserts) {
  BackupRecord b = Make("b1", 1);
  ASSERT_TRUE(catalog_->PutBackup(b).ok());
  auto add = [](int64_t n) {
    return [n](BackupRecord* r) {
      r->set_journal_size(r->journal_size() + n);
      return absl::OkStatus();
    };
  };
  ASSERT_TRUE(catalog_->ModifyBackup("b1", add(42)).ok());
  EXPECT_EQ(catalog_->GetBackup("b1")->journal_size(), 42);
  // A change that fails, or that would move the record to another cluster, writes nothing.
  EXPECT_EQ(catalog_
                ->ModifyBackup("b1",
                               [](BackupRecord* r) {
                                 r->set_journal_size(7);
                                 return absl::AbortedError("no");
                               })
                .code(),
            absl::StatusCode::kAborted);
  EXPECT_FALSE(catalog_
                   ->ModifyBackup("b1",
                                  [](BackupRecord* r) {
                                    r->set_cluster_id("other");
                                    return absl::OkStatus();
                                  })
                   .ok());
  EXPECT_EQ(catalog_->GetBackup("b1")->journal_size(), 42);
  EXPECT_EQ(catalog_->GetBackup("b1")->cluster_id(), b.cluster_id());
  ASSERT_TRUE(catalog_->DeleteBackup("b1").ok());
  EXPECT_EQ(catalog_->ModifyBackup("b1", add(1)).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(catalog_->GetBackup("b1").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CatalogTest, ConcurrentModifiesOfOneRecordLoseNoUpdate) {
  // The journal's accounting and a drill write different fields of one record at any time.
  ASSERT_TRUE(catalog_->PutBackup(Make("b1", 1)).ok());
  constexpr int kEach = 40;
  auto writer = [&](bool journal) {
    for (int i = 0; i < kEach; ++i) {
      absl::Status st = catalog_->ModifyBackup("b1", [&](BackupRecord* r) {
        if (journal) {
          r->set_journal_size(r->journal_size() + 1);
        } else {
          r->mutable_verification()->set_duration_ms(r->verification().duration_ms() + 1);
        }
        return absl::OkStatus();
      });
      ASSERT_TRUE(st.ok()) << st;
    }
  };
  std::thread a(writer, true), b(writer, false), c(writer, true);
  a.join();
  b.join();
  c.join();
  auto got = catalog_->GetBackup("b1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->journal_size(), 2 * kEach);
  EXPECT_EQ(got->verification().duration_ms(), kEach);
}

TEST_P(CatalogTest, ListsNewestFirstByFolderOrClusterAndEngine) {
  ASSERT_TRUE(catalog_->PutBackup(Make("old", 1)).ok());
  ASSERT_TRUE(catalog_->PutBackup(Make("new", 3)).ok());
  ASSERT_TRUE(catalog_->PutBackup(Make("mid", 2)).ok());
  ASSERT_TRUE(catalog_->PutBackup(Make("tie", 2)).ok());  // same time: later insert first
  ASSERT_TRUE(catalog_->PutBackup(Make("other-folder", 5, "f2")).ok());
  ASSERT_TRUE(catalog_->PutBackup(Make("other-engine", 5, "f1", Engine::MONGODB)).ok());
  std::vector<std::string> want{"new", "tie", "mid", "old"};
  EXPECT_EQ(Walk({.engine = Engine::REDIS, .folder_id = "f1", .page_size = 100}), want);
  int pages = 0;
  EXPECT_EQ(Walk({.engine = Engine::REDIS, .folder_id = "f1", .page_size = 1}, &pages), want);
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(Walk({.engine = Engine::REDIS, .cluster_id = "c-f1", .page_size = 3}), want);
  // An exact multiple of the page size ends without an empty extra page.
  EXPECT_EQ(Walk({.engine = Engine::REDIS, .folder_id = "f1", .page_size = 2}, &pages), want);
  EXPECT_EQ(pages, 2);
}

// A cluster whose folder changed in the config (or whose id a cluster of another folder reused):
// the walk of it within one folder lists that folder's rows alone, parsed or not, page by page.
TEST_P(CatalogTest, AClustersWalkWithinAFolderListsThatFoldersRowsAlone) {
  for (int i = 0; i < 6; ++i) {
    BackupRecord r = Make("b" + std::to_string(i), i, i % 2 ? "f2" : "f1");
    r.set_cluster_id("c");
    ASSERT_TRUE(catalog_->PutBackup(r).ok());
  }
  const std::vector<std::string> f1{"b4", "b2", "b0"}, f2{"b5", "b3", "b1"};
  EXPECT_EQ(Walk({.engine = Engine::REDIS, .folder_id = "f1", .cluster_id = "c", .page_size = 2}),
            f1);
  EXPECT_EQ(Walk({.engine = Engine::REDIS, .folder_id = "f2", .cluster_id = "c", .page_size = 1}),
            f2);
  EXPECT_EQ(Walk({.engine = Engine::REDIS, .cluster_id = "c", .page_size = 4}).size(), 6u);
  ListQuery raw{.engine = Engine::REDIS, .folder_id = "f2", .cluster_id = "c", .page_size = 10};
  raw.unparsed = true;
  auto page = catalog_->ListBackups(raw);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    BackupRecord r;
    ASSERT_TRUE(r.ParseFromString(page->records[i]));
    EXPECT_EQ(r.id(), f2[i]);
  }
  // A token of one folder's walk is refused in the other's.
  auto first = catalog_->ListBackups(
      {.engine = Engine::REDIS, .folder_id = "f1", .cluster_id = "c", .page_size = 1});
  ASSERT_TRUE(first.ok() && !first->next_page_token.empty());
  auto crossed = catalog_->ListBackups({.engine = Engine::REDIS,
                                        .folder_id = "f2",
                                        .cluster_id = "c",
                                        .page_size = 1,
                                        .page_token = first->next_page_token});
  EXPECT_EQ(crossed.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(CatalogTest, TokensAreBoundToTheirWalkAndSurviveReopen) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(catalog_->PutBackup(Make("b" + std::to_string(i), i)).ok());
  auto page = catalog_->ListBackups({.engine = Engine::REDIS, .folder_id = "f1", .page_size = 2});
  ASSERT_TRUE(page.ok());
  std::string token = page->next_page_token;
  ASSERT_FALSE(token.empty());
  auto other = catalog_->ListBackups(
      {.engine = Engine::REDIS, .folder_id = "f2", .page_size = 2, .page_token = token});
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  Reopen();
  auto next = catalog_->ListBackups(
      {.engine = Engine::REDIS, .folder_id = "f1", .page_size = 2, .page_token = token});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->backups[0].id(), "b2");
}

TEST_P(CatalogTest, UnparsedPagesHoldTheRecordsAsStoredAndPageAlike) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(catalog_->PutBackup(Make("b" + std::to_string(i), i)).ok());
  ListQuery parsed{.engine = Engine::REDIS, .folder_id = "f1", .page_size = 3};
  ListQuery raw = parsed;
  raw.unparsed = true;
  for (int page_no = 0; page_no < 2; ++page_no) {
    auto want = catalog_->ListBackups(parsed);
    auto got = catalog_->ListBackups(raw);
    ASSERT_TRUE(want.ok() && got.ok());
    EXPECT_TRUE(got->backups.empty());
    ASSERT_EQ(got->records.size(), want->backups.size());
    ASSERT_EQ(got->digests.size(), want->backups.size());
    for (size_t i = 0; i < got->records.size(); ++i) {
      BackupRecord rec;
      ASSERT_TRUE(rec.ParseFromString(got->records[i]));
      EXPECT_EQ(rec.SerializeAsString(), want->backups[i].SerializeAsString());
      EXPECT_EQ(got->digests[i], DigestOf(got->records[i]));
    }
    EXPECT_EQ(got->next_page_token.empty(), want->next_page_token.empty());
    parsed.page_token = want->next_page_token;
    raw.page_token = got->next_page_token;
  }
  EXPECT_TRUE(parsed.page_token.empty());  // 5 records: pages of 3 and 2
}

// ListQuery.known: asked once per listed record in page order (SQLite), or not at all (a catalog
// that reads every record anyway); a record it holds may be left out, one it does not never is;
// every digest is that of the record's bytes, so a record changed by Put or Modify is never taken
// for the one held.
TEST_P(CatalogTest, UnparsedPagesLeaveOutOnlyTheRecordsTheCallerHolds) {
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(catalog_->PutBackup(Make("b" + std::to_string(i), i)).ok());
  auto first =
      catalog_->ListBackups({.engine = Engine::REDIS, .folder_id = "f1", .unparsed = true});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->digests.size(), 4u);  // newest first: b3, b2, b1, b0
  std::set<RecordDigest> held = {first->digests[0], first->digests[2]};  // b3 and b1
  std::vector<RecordDigest> asked;
  ListQuery q{.engine = Engine::REDIS, .folder_id = "f1", .unparsed = true};
  q.known = [&](const RecordDigest& digest) {
    asked.push_back(digest);
    return held.count(digest) > 0;
  };
  // Every listed record is there unless held, and named by the digest of its own bytes.
  auto check = [&](const ListPage& page) {
    EXPECT_TRUE(asked.empty() || asked == page.digests);
    ASSERT_EQ(page.records.size(), page.digests.size());
    for (size_t i = 0; i < page.records.size(); ++i) {
      if (page.records[i].empty()) {
        EXPECT_TRUE(held.count(page.digests[i])) << i;
      } else {
        EXPECT_EQ(DigestOf(page.records[i]), page.digests[i]) << i;
      }
    }
  };
  BackupRecord changed = Make("b3", 3);  // b3 held, then changed by Put
  changed.set_size(77);
  ASSERT_TRUE(catalog_->PutBackup(changed).ok());
  auto page = catalog_->ListBackups(q);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 4u);
  check(*page);
  BackupRecord b3;
  ASSERT_TRUE(b3.ParseFromString(page->records[0]));  // another digest: read, not held
  EXPECT_EQ(b3.size(), 77u);
  EXPECT_EQ(page->digests[2], first->digests[2]);  // b1 unchanged
  for (int size : {5, 6}) {                        // b1 held, then changed by Modify, twice
    held.insert(page->digests[2]);
    ASSERT_TRUE(catalog_
                    ->ModifyBackup("b1",
                                   [&](BackupRecord* r) {
                                     r->set_size(size);
                                     return absl::OkStatus();
                                   })
                    .ok());
    asked.clear();
    page = catalog_->ListBackups(q);
    ASSERT_TRUE(page.ok());
    check(*page);
    BackupRecord b1;
    ASSERT_TRUE(b1.ParseFromString(page->records[2])) << size;
    EXPECT_EQ(b1.size(), static_cast<uint64_t>(size));
  }
  // The look-ahead row that tells whether a next page exists is not listed: not asked about.
  asked.clear();
  q.page_size = 2;
  page = catalog_->ListBackups(q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->records.size(), 2u);
  EXPECT_FALSE(page->next_page_token.empty());
  EXPECT_TRUE(asked.empty() || asked.size() == 2u) << asked.size();
  check(*page);
}

// The walk's promise: no backup twice, and none skipped that existed for the whole walk, while
// others are inserted (newer and with equal times) and deleted between pages.
TEST_P(CatalogTest, WalkIsStableUnderInsertsAndDeletes) {
  std::mt19937 rng(7);
  std::set<std::string> alive;
  for (int i = 0; i < 500; ++i) {
    std::string id = "s" + std::to_string(i);
    ASSERT_TRUE(catalog_->PutBackup(Make(id, 1000 + i / 3)).ok());
    alive.insert(id);
  }
  std::set<std::string> stable = alive;  // ids never deleted during the walk
  ListQuery q{.engine = Engine::REDIS, .folder_id = "f1", .page_size = 7};
  std::set<std::string> seen;
  int inserted = 0;
  for (;;) {
    auto page = catalog_->ListBackups(q);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& b : page->backups) EXPECT_TRUE(seen.insert(b.id()).second) << b.id();
    if (page->next_page_token.empty()) break;
    q.page_token = page->next_page_token;
    for (int k = 0; k < 3; ++k) {  // mutate between pages
      std::string id = "n" + std::to_string(inserted++);
      ASSERT_TRUE(catalog_->PutBackup(Make(id, 1000 + static_cast<int>(rng() % 200))).ok());
      auto victim = std::next(alive.begin(), rng() % alive.size());
      stable.erase(*victim);
      ASSERT_TRUE(catalog_->DeleteBackup(*victim).ok());
      alive.erase(victim);
    }
  }
  for (const auto& id : stable) EXPECT_TRUE(seen.count(id)) << "skipped " << id;
}

// A read must see what another connection (or process) committed since: no statement may keep
// an old snapshot open between calls.
TEST_P(CatalogTest, ReadsSeeCommitsOfOtherConnections) {
  ASSERT_TRUE(catalog_->PutBackup(Make("first", 1)).ok());
  ASSERT_TRUE(catalog_->GetBackup("first").ok());
  auto other = Open();  // another process, or another instance
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->PutBackups({Make("second", 2), Make("third", 3)}).ok());
  EXPECT_TRUE(catalog_->GetBackup("second").ok());
  EXPECT_EQ(Walk({.engine = Engine::REDIS, .folder_id = "f1", .page_size = 10}).size(), 3u);
}

TEST_P(CatalogTest, InstancesShareTokensAndOneHoldsExclusiveUse) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(catalog_->PutBackup(Make("b" + std::to_string(i), i)).ok());
  auto page = catalog_->ListBackups({.engine = Engine::REDIS, .folder_id = "f1", .page_size = 2});
  ASSERT_TRUE(page.ok());
  auto other = Open();
  ASSERT_TRUE(other.ok()) << other.status();
  auto next = (*other)->ListBackups({.engine = Engine::REDIS,
                                     .folder_id = "f1",
                                     .page_size = 2,
                                     .page_token = page->next_page_token});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->backups[0].id(), "b2");

  auto held = catalog_->AcquireExclusiveUse();
  ASSERT_TRUE(held.ok()) << held.status();
  auto refused = (*other)->AcquireExclusiveUse();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("pid"), absl::string_view::npos)
      << refused.status();  // who holds it
  held->reset();            // released: the other may have it now
  EXPECT_TRUE((*other)->AcquireExclusiveUse().ok());
}

// PostgreSQL: instances share the catalog; a rebuild (exclusive) waits for none of them to run,
// and no instance starts beside it.
TEST(PostgresCatalog, InstancesShareItAndARebuildHasItAlone) {
  const std::string location = TestPostgres::Get()->NewDatabase();
  ASSERT_FALSE(location.empty());
  auto a = OpenPostgresCatalog(location), b = OpenPostgresCatalog(location);
  ASSERT_TRUE(a.ok() && b.ok());
  auto ia = (*a)->AcquireSharedUse(), ib = (*b)->AcquireSharedUse();
  ASSERT_TRUE(ia.ok()) << ia.status();
  ASSERT_TRUE(ib.ok()) << ib.status();
  auto rebuild = (*a)->AcquireExclusiveUse();
  EXPECT_EQ(rebuild.status().code(), absl::StatusCode::kFailedPrecondition) << rebuild.status();
  EXPECT_NE(rebuild.status().message().find("mdb-backup pid"), std::string::npos)
      << rebuild.status();
  ia->reset();
  ib->reset();
  rebuild = (*a)->AcquireExclusiveUse();
  ASSERT_TRUE(rebuild.ok()) << rebuild.status();
  EXPECT_EQ((*b)->AcquireSharedUse().status().code(), absl::StatusCode::kFailedPrecondition);
}

// PostgreSQL only (SQLite has no connection to lose): a failover or server restart ends every
// pooled connection while the instance idles; the next calls succeed on fresh ones instead of
// failing once per dead connection (a backup that committed would have reported failure).
TEST(PostgresCatalog, CallsSurviveTheServerEndingItsConnections) {
  const std::string location = TestPostgres::Get()->NewDatabase();
  ASSERT_FALSE(location.empty());
  auto catalog = OpenPostgresCatalog(location);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  BackupRecord r;
  r.set_id("b1");
  r.set_folder_id("f1");
  r.set_engine(Engine::REDIS);
  // Several connections in the pool: calls from threads at once.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      ASSERT_TRUE((*catalog)->GetBackup("b1").status().code() != absl::StatusCode::kUnavailable);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_GT(TestPostgres::Get()->TerminateConnections(location), 0);
  absl::Status put = (*catalog)->PutBackup(r);
  EXPECT_TRUE(put.ok()) << put;
  ASSERT_GT(TestPostgres::Get()->TerminateConnections(location), 0);
  auto got = (*catalog)->GetBackup("b1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->folder_id(), "f1");
}

INSTANTIATE_TEST_SUITE_P(Catalogs, CatalogTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mdb::catalog
