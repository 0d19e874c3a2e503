// The kept Backups of a List: shown as a fresh mapping would show them, re-mapped when the record
// changes, the same on the wire when spliced as bytes, and bounded in bytes.
#include "api/backup_cache.h"

#include <gtest/gtest.h>

#include "api/backup_mapping.h"
#include "catalog/catalog.h"
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

// What Api::List does with a page: asks the cache for each record's digest, the records it holds
// left out (as the SQLite catalog leaves them), then appends.
absl::Status List(BackupMessageCache& cache, std::vector<std::string> records, bool splice,
                  RedisList* out) {
  std::vector<catalog::RecordDigest> digests;
  std::vector<std::shared_ptr<const std::string>> held;
  for (std::string& record : records) {
    digests.push_back(catalog::DigestOf(record));
    held.push_back(cache.Find(Backups()->message_type(), digests.back()));
    if (held.back()) record.clear();
  }
  return cache.Append(records, digests, held, Backups(), splice, out);
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

}  // namespace
}  // namespace mdb::api
