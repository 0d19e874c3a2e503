#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "catalog/catalog.h"
#include "catalog/test_postgres.h"
#include "common/test_dir.h"
#include "common/time_util.h"

namespace mdb::catalog {
namespace {

// Started before main (registered with gtest), on the first test that needs it.
const auto* const kPostgres = TestPostgres::Get();

// The catalog contract, run on every catalog: SQLite (the embedded default) and PostgreSQL (a
// real server, catalog/test_postgres.h). Each test gets a fresh catalog.
class CatalogTest : public ::testing::TestWithParam<std::string> {
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

TEST_P(CatalogTest, UpdateReplacesAnExistingRecordAndNeverInserts) {
  BackupRecord b = Make("b1", 1);
  ASSERT_TRUE(catalog_->PutBackup(b).ok());
  b.set_journal_size(42);
  ASSERT_TRUE(catalog_->UpdateBackup(b).ok());
  EXPECT_EQ(catalog_->GetBackup("b1")->journal_size(), 42);
  ASSERT_TRUE(catalog_->DeleteBackup("b1").ok());
  EXPECT_EQ(catalog_->UpdateBackup(b).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(catalog_->GetBackup("b1").status().code(), absl::StatusCode::kNotFound);
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

TEST_P(CatalogTest, OperationsPersistAndUnfinishedAreListed) {
  OperationRecord op;
  op.folder_id = "f1";
  op.operation.set_id("op1");
  *op.operation.mutable_created_at() = common::FromUnixNanos(1);
  ASSERT_TRUE(catalog_->PutOperation(op).ok());
  OperationRecord done = op;
  done.operation.set_id("op2");
  done.operation.set_done(true);
  ASSERT_TRUE(catalog_->PutOperation(done).ok());
  Reopen();
  auto unfinished = catalog_->ListUnfinishedOperations();
  ASSERT_TRUE(unfinished.ok());
  ASSERT_EQ(unfinished->size(), 1u);
  EXPECT_EQ((*unfinished)[0].operation.id(), "op1");
  auto got = catalog_->GetOperation("op2");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->operation.done());
  EXPECT_EQ(got->folder_id, "f1");
  EXPECT_EQ(catalog_->GetOperation("nope").status().code(), absl::StatusCode::kNotFound);
}

// The protocol of several instances (docs/deployment.md): the owner renews its operation's lease
// (and stores its progress with it) and learns of a cancel asked anywhere; a survivor ends the
// operation only once the lease ran out, and never after the owner finished it.
TEST_P(CatalogTest, OperationLeasesRenewCancelFinishAndTakeOver) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  OperationRecord op;
  op.folder_id = "f1";
  op.owner = "instance-a";
  op.lease_until = now + absl::Seconds(30);
  op.operation.set_id("op1");
  *op.operation.mutable_created_at() = common::ToProto(now);
  ASSERT_TRUE(catalog_->PutOperation(op).ok());
  auto got = catalog_->GetOperation("op1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->owner, "instance-a");
  EXPECT_EQ(got->lease_until, now + absl::Seconds(30));
  EXPECT_FALSE(got->cancel_requested);

  // Renewed by its owner with its progress; another instance holds no lease on it.
  op.lease_until = now + absl::Seconds(60);
  op.operation.set_description("half way");
  auto renewed = catalog_->RenewOperation(op);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_TRUE(renewed->held);
  EXPECT_FALSE(renewed->cancel_requested);
  EXPECT_EQ(catalog_->GetOperation("op1")->operation.description(), "half way");
  OperationRecord other = op;
  other.owner = "instance-b";
  EXPECT_FALSE(catalog_->RenewOperation(other)->held);

  // A cancel asked on any instance reaches the owner at its next renewal.
  ASSERT_TRUE(catalog_->RequestCancel("op1").ok());
  EXPECT_TRUE(catalog_->RenewOperation(op)->cancel_requested);
  EXPECT_TRUE(catalog_->GetOperation("op1")->cancel_requested);

  // A survivor may not end it while the lease runs (as seen at now + 59 s)...
  OperationRecord aborted = op;
  aborted.operation.set_done(true);
  aborted.operation.mutable_error()->set_code(10);
  EXPECT_FALSE(*catalog_->FinishOperation(aborted, now + absl::Seconds(59)));
  EXPECT_FALSE(catalog_->GetOperation("op1")->operation.done());
  // ...only after it (the owner is gone: its lease is not renewed), and only once.
  EXPECT_TRUE(*catalog_->FinishOperation(aborted, now + absl::Seconds(61)));
  // The same write again (a call retried after its commit, its reply lost): counts as written.
  EXPECT_TRUE(*catalog_->FinishOperation(aborted, now + absl::Seconds(61)));
  EXPECT_EQ(catalog_->GetOperation("op1")->operation.error().code(), 10);
  OperationRecord late = op;  // the owner, back from a pause, finishing it after all
  late.operation.set_done(true);
  EXPECT_FALSE(*catalog_->FinishOperation(late));
  EXPECT_EQ(catalog_->GetOperation("op1")->operation.error().code(), 10);
  EXPECT_FALSE(catalog_->RenewOperation(op)->held);
  EXPECT_EQ(catalog_->RequestCancel("op1").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(catalog_->RequestCancel("nope").code(), absl::StatusCode::kNotFound);

  // The owner finishes its own operation at any time, without regard to the lease.
  OperationRecord op2 = op;
  op2.operation.set_id("op2");
  op2.lease_until = now;
  ASSERT_TRUE(catalog_->PutOperation(op2).ok());
  op2.operation.set_done(true);
  EXPECT_TRUE(*catalog_->FinishOperation(op2));
  EXPECT_TRUE(catalog_->ListUnfinishedOperations()->empty());
}

// Operations as data: queued with no owner, claimed oldest first, each by exactly one of the
// instances claiming at once; a queued one can be cancelled (finished with no owner).
TEST_P(CatalogTest, QueuedOperationsAreClaimedOnceOldestFirst) {
  const absl::Time t = absl::FromUnixSeconds(1'800'000'000);
  auto queue = [&](const std::string& id, int second) {
    OperationRecord op;
    op.folder_id = "f1";
    op.lease_until = absl::InfiniteFuture();
    op.request = std::string("run \0 ", 6) + id;  // bytes, not text
    op.operation.set_id(id);
    *op.operation.mutable_created_at() = common::ToProto(t + absl::Seconds(second));
    return catalog_->PutOperation(op);
  };
  ASSERT_TRUE(queue("q2", 2).ok());
  ASSERT_TRUE(queue("q1", 1).ok());
  OperationRecord running;  // someone's already: never claimed
  running.owner = "instance-a";
  running.lease_until = t;
  running.operation.set_id("r0");
  ASSERT_TRUE(catalog_->PutOperation(running).ok());
  OperationRecord local;  // no owner but no request either (only its starter could run it)
  local.operation.set_id("l0");
  ASSERT_TRUE(catalog_->PutOperation(local).ok());

  auto first = catalog_->ClaimOperation("instance-b", t + absl::Seconds(30));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->operation.id(), "q1");
  EXPECT_EQ((*first)->owner, "instance-b");
  EXPECT_EQ((*first)->lease_until, t + absl::Seconds(30));
  EXPECT_EQ((*first)->request, std::string("run \0 q1", 8));
  EXPECT_EQ(catalog_->GetOperation("q1")->owner, "instance-b");
  // Start's insert retried after its reply was lost does not put it back in the queue.
  ASSERT_TRUE(queue("q1", 1).ok());
  EXPECT_EQ(catalog_->GetOperation("q1")->owner, "instance-b");
  // Handed back (its instance stopping before it started): only by its owner, once.
  EXPECT_FALSE(*catalog_->ReleaseOperation("q1", "instance-c"));
  EXPECT_TRUE(*catalog_->ReleaseOperation("q1", "instance-b"));
  EXPECT_FALSE(*catalog_->ReleaseOperation("q1", "instance-b"));
  EXPECT_EQ(catalog_->GetOperation("q1")->owner, "");
  EXPECT_GT(catalog_->GetOperation("q1")->lease_until, t + absl::Hours(24 * 365 * 200));
  first = catalog_->ClaimOperation("instance-b", t + absl::Seconds(30));
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->operation.id(), "q1");
  // A queued operation is cancelled by finishing it with no owner; then nothing is left.
  OperationRecord cancelled = *catalog_->GetOperation("q2");
  cancelled.operation.set_done(true);
  EXPECT_TRUE(*catalog_->FinishOperation(cancelled));
  EXPECT_FALSE(catalog_->ClaimOperation("instance-b", t)->has_value());

  // Instances claiming at once: each queued operation goes to exactly one of them.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(queue(absl::StrCat("m", i), 10 + i).ok());
  std::vector<std::unique_ptr<Catalog>> instances;
  for (int i = 0; i < 4; ++i) instances.push_back(std::move(*Open()));
  std::mutex mu;
  std::multiset<std::string> claimed;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 50; ++n) {  // bounded: a claim handing a row out twice must fail
        auto got = instances[i]->ClaimOperation(absl::StrCat("i", i), t + absl::Seconds(30));
        EXPECT_TRUE(got.ok()) << got.status();
        if (!got.ok() || !got->has_value()) return;
        std::lock_guard<std::mutex> lock(mu);
        claimed.insert((*got)->operation.id());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(claimed.size(), 20u);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), 20u);
}

TEST_P(CatalogTest, ANamedLeaseHasOneHolderAtATime) {
  const absl::Time t = absl::FromUnixSeconds(1'800'000'000);
  const absl::Duration ttl = absl::Seconds(30);
  EXPECT_TRUE(*catalog_->TryLease("gc", "a", t, t + ttl));
  EXPECT_FALSE(*catalog_->TryLease("gc", "b", t + absl::Seconds(10), t + absl::Seconds(10) + ttl));
  EXPECT_TRUE(*catalog_->TryLease("gc", "a", t + absl::Seconds(20), t + absl::Seconds(50)));
  // Not expired at 40 s (renewed to 50 s); expired at 51 s, when b takes it over.
  EXPECT_FALSE(*catalog_->TryLease("gc", "b", t + absl::Seconds(40), t + absl::Seconds(70)));
  EXPECT_TRUE(*catalog_->TryLease("gc", "b", t + absl::Seconds(51), t + absl::Seconds(81)));
  EXPECT_FALSE(*catalog_->TryLease("gc", "a", t + absl::Seconds(52), t + absl::Seconds(82)));
  EXPECT_TRUE(*catalog_->TryLease("other", "a", t + absl::Seconds(52), t + absl::Seconds(82)));
  ASSERT_TRUE(catalog_->ReleaseLease("gc", "a").ok());  // not a's: no effect
  EXPECT_FALSE(*catalog_->TryLease("gc", "a", t + absl::Seconds(53), t + absl::Seconds(83)));
  ASSERT_TRUE(catalog_->ReleaseLease("gc", "b").ok());
  EXPECT_TRUE(*catalog_->TryLease("gc", "a", t + absl::Seconds(53), t + absl::Seconds(83)));

  // Instances racing for a free name: exactly one wins (each on its own catalog handle).
  std::vector<std::unique_ptr<Catalog>> instances;
  for (int i = 0; i < 4; ++i) instances.push_back(std::move(*Open()));
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&, i] {
        auto won =
            instances[i]->TryLease(absl::StrCat("race", round), absl::StrCat("i", i), t, t + ttl);
        EXPECT_TRUE(won.ok()) << won.status();
        if (won.ok() && *won) ++winners;
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(winners.load(), 1) << "round " << round;
  }
}

// Instances sharing one catalog: a page token of one is valid on the other (the signing key is in
// the catalog), and only one holds exclusive use at a time.
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
