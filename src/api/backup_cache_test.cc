// The kept Backups of a List: shown as a fresh mapping would show them, re-mapped when the record
// changes, the same on the wire when spliced as bytes, and bounded in bytes.
#include "api/backup_cache.h"

#include <gtest/gtest.h>

#include <set>

#include "api/backup_mapping.h"
#include "catalog/catalog.h"
#include "common/status.h"
#include "yandex/cloud/mdb/redis/v1/backup_service.pb.h"

namespace mdb::api {
namespace {

using RedisBackup = yandex::cloud::mdb::redis::v1::Backup;
using RedisList = yandex::cloud::mdb::redis::v1::ListBackupsResponse;

std::string Stored(const std::string& id, int64_t size) {
  catalog::BackupRecord r;
  r.set_id(id);
  r.set_folder_id("f1");
  r.set_cluster_id("c" + std::to_string(size));  // Redis's Backup shows no size
  r.set_size(size);
  r.mutable_created_at()->set_seconds(1700000000);
  r.add_source_shard_names("shard1");
  return r.SerializeAsString();
}

RedisBackup Fresh(const std::string& stored) {
  catalog::BackupRecord r;
  EXPECT_TRUE(r.ParseFromString(stored));
  RedisBackup b;
  EXPECT_TRUE(ToApiBackup(r, &b).ok());
  return b;
}

const google::protobuf::FieldDescriptor* Backups() {
  return RedisList::descriptor()->FindFieldByName("backups");
}

// What Api::List does with a page read from the catalog: asks the cache for each record's
// digest, the records it holds left out (as the SQLite catalog leaves them), then resolves the
// page and shows it, spliced as the gRPC transport takes it or parsed as REST does.
absl::Status List(BackupMessageCache& cache, std::vector<std::string> records, bool splice,
                  RedisList* out) {
  ListedPage page;
  std::vector<std::shared_ptr<const std::string>> held;
  for (std::string& record : records) {
    page.digests.push_back(catalog::DigestOf(record));
    held.push_back(cache.Find(Backups()->message_type(), page.digests.back()));
    if (held.back()) record.clear();
  }
  ASSIGN_OR_RETURN(page.shown,
                   cache.Resolve(records, page.digests, held, Backups()->message_type()));
  SplicedField spliced;
  size_t bad = 0;
  RETURN_IF_ERROR(Show(page, Backups(), splice ? &spliced : nullptr, out, &bad));
  if (!splice) return absl::OkStatus();
  // What the gRPC transport sends: the response's own bytes, then the spliced elements.
  std::string wire = out->SerializeAsString();
  const size_t own = wire.size();
  wire.resize(own + spliced.WireSize());
  auto* at = reinterpret_cast<uint8_t*>(wire.data()) + own;
  EXPECT_EQ(spliced.Write(at), reinterpret_cast<uint8_t*>(wire.data()) + wire.size());
  // Kept as unknown fields, so that OnTheWire reads the message as the client would.
  EXPECT_TRUE(out->GetReflection()->MutableUnknownFields(out)->ParseFromString(wire.substr(own)));
  return absl::OkStatus();
}

// The response as a client reads it off the wire.
RedisList OnTheWire(const RedisList& sent) {
  RedisList read;
  EXPECT_TRUE(read.ParseFromString(sent.SerializeAsString()));
  return read;
}

TEST(BackupMessageCache, ListedAgainTheBackupsAreThoseAFreshMappingShows) {
  BackupMessageCache cache;
  std::vector<std::string> page = {Stored("b1", 10), Stored("b2", 20)};
  for (int round = 0; round < 2; ++round) {  // a miss, then a hit
    for (bool splice : {false, true}) {
      RedisList out;
      ASSERT_TRUE(List(cache, page, splice, &out).ok());
      RedisList read = OnTheWire(out);
      ASSERT_EQ(read.backups_size(), 2) << round << splice;
      EXPECT_EQ(read.backups(0).SerializeAsString(), Fresh(page[0]).SerializeAsString());
      EXPECT_EQ(read.backups(1).SerializeAsString(), Fresh(page[1]).SerializeAsString());
      EXPECT_EQ(read.backups(1).source_cluster_id(), "c20");
      EXPECT_EQ(out.backups_size(), splice ? 0 : 2);  // spliced: bytes only, as promised
    }
  }
  EXPECT_EQ(cache.size(), 2u);
}

TEST(BackupMessageCache, WhatItHoldsIsFoundByDigestAndType) {
  BackupMessageCache cache;
  std::string stored = Stored("b1", 10);
  EXPECT_EQ(cache.Find(RedisBackup::descriptor(), catalog::DigestOf(stored)), nullptr);
  RedisList out;
  ASSERT_TRUE(List(cache, {stored}, true, &out).ok());
  auto kept = cache.Find(RedisBackup::descriptor(), catalog::DigestOf(stored));
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(*kept, Fresh(stored).SerializeAsString());
  // Another engine's Backup of the same record is not this one.
  EXPECT_EQ(cache.Find(RedisList::descriptor(), catalog::DigestOf(stored)), nullptr);
  EXPECT_EQ(cache.Find(RedisBackup::descriptor(), catalog::DigestOf(Stored("b1", 11))), nullptr);
}

TEST(BackupMessageCache, AChangedRecordIsShownChangedNotAsKept) {
  BackupMessageCache cache;
  RedisList first;
  ASSERT_TRUE(List(cache, {Stored("b1", 10)}, true, &first).ok());
  RedisList second;  // another instance finished the backup: same id, new size
  ASSERT_TRUE(List(cache, {Stored("b1", 99)}, true, &second).ok());
  EXPECT_EQ(OnTheWire(second).backups(0).source_cluster_id(), "c99");
}

TEST(BackupMessageCache, SplicedBytesKeepTheOrderAndTheOtherFields) {
  BackupMessageCache cache;
  std::vector<std::string> page;
  for (int i = 0; i < 5; ++i) page.push_back(Stored("b" + std::to_string(i), i));
  RedisList warm;  // b2 kept before the page is listed
  ASSERT_TRUE(List(cache, {page[2]}, true, &warm).ok());
  RedisList out;
  out.set_next_page_token("tok");
  ASSERT_TRUE(List(cache, page, true, &out).ok());  // hits and misses mixed
  RedisList read = OnTheWire(out);
  ASSERT_EQ(read.backups_size(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(read.backups(i).id(), "b" + std::to_string(i));
  EXPECT_EQ(read.next_page_token(), "tok");
}

TEST(BackupMessageCache, HoldsAtMostItsCapacity) {
  // An entry: the Backup it keeps, and what Put counts beside it.
  const size_t entry = Fresh(Stored("b10", 10)).ByteSizeLong() + 2 * (8 + 16) + 64;
  BackupMessageCache cache(8 * entry);
  for (int i = 10; i < 60; ++i) {
    RedisList out;
    ASSERT_TRUE(List(cache, {Stored("b" + std::to_string(i), i)}, true, &out).ok());
    EXPECT_LE(cache.size(), 8u);
  }
  EXPECT_GE(cache.size(), 2u);  // and does keep some
}

TEST(BackupMessageCache, ACorruptRecordIsDataLoss) {
  BackupMessageCache cache;
  RedisList out;
  EXPECT_EQ(List(cache, {std::string("\xff\xff\xff", 3)}, true, &out).code(),
            absl::StatusCode::kDataLoss);
}

std::shared_ptr<const ListedPage> PageOf(std::vector<std::string> shown) {
  auto page = std::make_shared<ListedPage>();
  for (auto& s : shown) page->shown.push_back(std::make_shared<const std::string>(std::move(s)));
  return page;
}

TEST(ListedPages, APageIsFoundOnlyUnderTheVersionItWasKeptAt) {
  ListedPages pages;
  auto p1 = PageOf({"a"}), p2 = PageOf({"b"});
  pages.Put("k1", 5, p1);
  EXPECT_EQ(pages.Find("k1", 5), p1);
  EXPECT_EQ(pages.Find("k1", 6), nullptr);  // the catalog changed since
  EXPECT_EQ(pages.Find("k2", 5), nullptr);
  pages.Put("k2", 6, p2);  // read after a change: what was kept before is gone
  EXPECT_EQ(pages.Find("k2", 6), p2);
  EXPECT_EQ(pages.Find("k1", 5), nullptr);
  EXPECT_EQ(pages.size(), 1u);
  pages.Put("k1", 5, p1);  // a version going back (a catalog put back from a copy) as well
  EXPECT_EQ(pages.Find("k2", 6), nullptr);
  EXPECT_EQ(pages.Find("k1", 5), p1);
  pages.Drop("k1");
  EXPECT_EQ(pages.Find("k1", 5), nullptr);
}

TEST(ListedPages, NoTwoQueriesShareAKey) {
  const auto* redis = RedisBackup::descriptor();
  const auto* other = RedisList::descriptor();
  catalog::ListQuery base{.engine = catalog::Engine::REDIS, .folder_id = "f1", .page_size = 100};
  std::vector<std::pair<const google::protobuf::Descriptor*, catalog::ListQuery>> queries;
  queries.emplace_back(redis, base);
  queries.emplace_back(other, base);
  auto with = [&](auto change) {
    catalog::ListQuery q = base;
    change(q);
    queries.emplace_back(redis, q);
  };
  with([](catalog::ListQuery& q) { q.engine = catalog::Engine::MONGODB; });
  with([](catalog::ListQuery& q) { q.folder_id = "f2"; });
  with([](catalog::ListQuery& q) { q.folder_id = "", q.cluster_id = "f1"; });
  with([](catalog::ListQuery& q) { q.page_size = 10; });
  with([](catalog::ListQuery& q) { q.page_size = 1000; });
  with([](catalog::ListQuery& q) { q.page_token = "t"; });
  with([](catalog::ListQuery& q) { q.folder_id = "f", q.cluster_id = "1"; });
  with([](catalog::ListQuery& q) { q.folder_id = "f11", q.page_size = 0; });
  std::set<std::string> keys;
  for (const auto& [type, q] : queries) keys.insert(ListedPages::KeyOf(type, q));
  EXPECT_EQ(keys.size(), queries.size());
}

TEST(ListedPages, HoldsAtMostItsCapacity) {
  ListedPages pages(64 << 10);
  for (int i = 0; i < 100; ++i) {
    pages.Put("k" + std::to_string(i), 1, PageOf({std::string(4000, 'x')}));
    EXPECT_LE(pages.size(), 16u);
  }
  EXPECT_GE(pages.size(), 2u);  // and does keep some
  const size_t kept = pages.size();
  pages.Put("huge", 1, PageOf({std::string(40 << 10, 'x')}));  // over a generation
  EXPECT_EQ(pages.Find("huge", 1), nullptr);
  EXPECT_EQ(pages.size(), kept);  // and it evicted none
  EXPECT_NE(pages.Find("k99", 1), nullptr);
}

// Pages found again move to the newer generation with what they were counted for: a client
// that lists every page it ever saw, again and again, still keeps the cache within its bounds.
TEST(ListedPages, APageFoundAgainIsCountedWhereverItMoves) {
  ListedPages pages(64 << 10);  // two generations of 32 KiB: 7 pages of 4 KB in each
  for (int i = 0; i < 100; ++i) {
    pages.Put("k" + std::to_string(i), 1, PageOf({std::string(4000, 'x')}));
    for (int j = 0; j < i; ++j) (void)pages.Find("k" + std::to_string(j), 1);
    EXPECT_LE(pages.size(), 16u) << i;
  }
}

TEST(ListedPages, BytesThatDoNotParseAreNamedNotShown) {
  RedisBackup b;
  b.set_id("b1");
  auto page = PageOf({b.SerializeAsString(), std::string("\xff\xff\xff", 3)});
  RedisList out;
  size_t bad = 99;
  EXPECT_EQ(Show(*page, Backups(), nullptr, &out, &bad).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(bad, 1u);
  SplicedField spliced;  // handed over as they are: the transport does not parse them
  RedisList spliced_out;
  ASSERT_TRUE(Show(*page, Backups(), &spliced, &spliced_out, &bad).ok());
  EXPECT_EQ(spliced.number, Backups()->number());
  EXPECT_EQ(spliced.items, page->shown);
}

}  // namespace
}  // namespace mdb::api
