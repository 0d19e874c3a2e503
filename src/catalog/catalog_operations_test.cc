// The operation and lease part of the catalog contract, run on SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "catalog/catalog_test_fixture.h"

namespace mdb::catalog {
namespace {

class OperationCatalogTest : public CatalogFixture {};

TEST_P(OperationCatalogTest, OperationsPersistAndUnfinishedAreListed) {
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

// ClusterService.ListOperations: a cluster's operations newest first, ties in insertion order
// reversed, pages that neither repeat nor skip, tokens bound to the cluster, updates that keep a
// row's place, and operations of no cluster (or another) never listed.
TEST_P(OperationCatalogTest, ListsAClustersOperationsNewestFirstInPages) {
  auto put = [&](const std::string& id, const std::string& cluster, int64_t created_s) {
    OperationRecord op;
    op.folder_id = "f1";
    op.cluster_id = cluster;
    op.operation.set_id(id);
    *op.operation.mutable_created_at() = common::FromUnixNanos(created_s * 1'000'000'000);
    ASSERT_TRUE(catalog_->PutOperation(op).ok());
  };
  put("a", "c1", 10);
  put("b", "c1", 30);
  put("other", "c2", 40);
  put("none", "", 50);
  put("c", "c1", 20);
  put("d", "c1", 20);  // the same time as c, inserted later: listed first
  put("e", "c1", 5);
  // An update (the operation finishing) keeps its place and its cluster.
  OperationRecord finished = *catalog_->GetOperation("c");
  finished.operation.set_done(true);
  finished.cluster_id = "ignored: written at insert only";
  ASSERT_TRUE(catalog_->PutOperation(finished).ok());
  EXPECT_EQ(catalog_->GetOperation("c")->cluster_id, "c1");

  std::vector<std::string> ids;
  OperationQuery q{.cluster_id = "c1", .page_size = 2};
  std::string first_token;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10);
    auto page = catalog_->ListClusterOperations(q);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->operations.size(), 2u);
    for (const auto& op : page->operations) {
      ids.push_back(op.operation.id());
      EXPECT_EQ(op.cluster_id, "c1");
    }
    if (page->next_page_token.empty()) break;
    if (first_token.empty()) first_token = page->next_page_token;
    q.page_token = page->next_page_token;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"b", "d", "c", "a", "e"}));
  EXPECT_TRUE(catalog_->GetOperation("c")->operation.done());

  auto stolen = catalog_->ListClusterOperations({.cluster_id = "c2", .page_token = first_token});
  EXPECT_EQ(stolen.status().code(), absl::StatusCode::kInvalidArgument);
  auto other = catalog_->ListClusterOperations({.cluster_id = "c2"});
  ASSERT_TRUE(other.ok());
  ASSERT_EQ(other->operations.size(), 1u);
  EXPECT_EQ(other->operations[0].operation.id(), "other");
  EXPECT_TRUE(catalog_->ListClusterOperations({.cluster_id = "c3"})->operations.empty());
}

// The protocol of several instances (docs/deployment.md): the owner renews its operation's lease
// (and stores its progress with it) and learns of a cancel asked anywhere; a survivor ends the
// operation only once the lease ran out, and never after the owner finished it.
TEST_P(OperationCatalogTest, OperationLeasesRenewCancelFinishAndTakeOver) {
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
TEST_P(OperationCatalogTest, QueuedOperationsAreClaimedOnceOldestFirst) {
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

TEST_P(OperationCatalogTest, ANamedLeaseHasOneHolderAtATime) {
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
  // A shutdown's hand-back: the owner's leases of one prefix, matched as written ('_' too).
  const absl::Time u = t + absl::Seconds(60);
  for (const char* name : {"automated/c_1", "automated/c2", "automatedX", "journal/c_1"}) {
    EXPECT_TRUE(*catalog_->TryLease(name, "a", u, u + ttl)) << name;
  }
  EXPECT_TRUE(*catalog_->TryLease("automated/c3", "b", u, u + ttl));
  ASSERT_TRUE(catalog_->ReleaseLeases("automated/", "a").ok());
  for (const char* name : {"automated/c_1", "automated/c2"}) {
    EXPECT_TRUE(*catalog_->TryLease(name, "c", u, u + ttl)) << name;  // free now
  }
  for (const char* name : {"automatedX", "journal/c_1", "automated/c3"}) {
    EXPECT_FALSE(*catalog_->TryLease(name, "c", u, u + ttl)) << name;  // a's, or not a's
  }
  ASSERT_TRUE(catalog_->ReleaseLeases("automated/c_", "b").ok());  // '_' is no wildcard
  EXPECT_FALSE(*catalog_->TryLease("automated/c3", "c", u, u + ttl));
  EXPECT_EQ(catalog_->ReleaseLeases("", "b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(*catalog_->TryLease("automated/c3", "c", u, u + ttl));

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
INSTANTIATE_TEST_SUITE_P(Catalogs, OperationCatalogTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mdb::catalog
