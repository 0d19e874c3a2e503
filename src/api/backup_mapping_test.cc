// The record-to-Backup mapping where records come from older versions or from the bucket: what
// a reader is shown of them (every engine's normal mapping is pinned by the REST, SDK and
// engine-row tests).
#include "api/backup_mapping.h"

#include <gtest/gtest.h>

#include "yandex/cloud/mdb/opensearch/v1/backup.pb.h"
#include "yandex/cloud/mdb/redis/v1/backup.pb.h"

namespace mdb::api {
namespace {

using OsBackup = yandex::cloud::mdb::opensearch::v1::Backup;
using RedisBackup = yandex::cloud::mdb::redis::v1::Backup;

catalog::BackupRecord Record() {
  catalog::BackupRecord r;
  r.set_id("b1");
  r.set_cluster_id("c1");
  r.set_size(42);
  return r;
}

// `record` with a length-delimited field `number` = `value` appended, as older records wrote
// fields now reserved (they parse back as unknown fields).
std::string WithOldField(std::string record, int number, const std::string& value) {
  record += static_cast<char>(number << 3 | 2);
  record += static_cast<char>(value.size());
  return record + value;
}

TEST(BackupMapping, EngineFieldsOfTheRecordsEngineAreShown) {
  catalog::BackupRecord r = Record();
  OsBackup fields;
  fields.add_indices("logs");
  fields.set_indices_total(7);
  fields.set_opensearch_version("2.11.1");
  r.mutable_engine_fields()->PackFrom(fields);
  OsBackup out;
  ASSERT_TRUE(ToApiBackup(r, &out).ok());
  EXPECT_EQ(out.indices_size(), 1);
  EXPECT_EQ(out.indices_total(), 7);
  EXPECT_EQ(out.opensearch_version(), "2.11.1");
  EXPECT_EQ(out.size_bytes(), 42);  // the record's own fields, by alias
  EXPECT_EQ(out.source_cluster_id(), "c1");
}

TEST(BackupMapping, EngineFieldsOfAnotherTypeAreLeftOutNotAnError) {
  // A manifest planted in the bucket (or a record of another engine's): the backup is still
  // listed, so one bad record does not fail a page of them.
  catalog::BackupRecord r = Record();
  OsBackup fields;
  fields.set_opensearch_version("2.11.1");
  r.mutable_engine_fields()->PackFrom(fields);
  RedisBackup out;
  ASSERT_TRUE(ToApiBackup(r, &out).ok());
  EXPECT_EQ(out.id(), "b1");
  EXPECT_EQ(out.source_cluster_id(), "c1");
  // Unreadable bytes of the right type: the same.
  r.mutable_engine_fields()->set_value("\xff\xff\xff");
  OsBackup os;
  ASSERT_TRUE(ToApiBackup(r, &os).ok());
  EXPECT_EQ(os.id(), "b1");
  EXPECT_EQ(os.size_bytes(), 42);
  EXPECT_EQ(os.opensearch_version(), "");
}

TEST(BackupMapping, RecordsOlderThanEngineFieldsKeepTheirIndicesAndVersion) {
  // Before engine_fields, the record had `repeated string indices = 13;` and
  // `string opensearch_version = 14;` (now reserved): written here as those bytes.
  catalog::BackupRecord r = Record();
  std::string old = r.SerializeAsString();
  for (const std::string& index : {"logs", "metrics"}) old = WithOldField(old, 13, index);
  old = WithOldField(old, 14, "2.11.1");
  catalog::BackupRecord parsed;
  ASSERT_TRUE(parsed.ParseFromString(old));
  OsBackup out;
  ASSERT_TRUE(ToApiBackup(parsed, &out).ok());
  ASSERT_EQ(out.indices_size(), 2);
  EXPECT_EQ(out.indices(1), "metrics");
  EXPECT_EQ(out.indices_total(), 2);
  EXPECT_EQ(out.opensearch_version(), "2.11.1");
  EXPECT_EQ(out.size_bytes(), 42);
  // Another engine's Backup has no such fields: nothing shown, nothing broken.
  RedisBackup redis;
  ASSERT_TRUE(ToApiBackup(parsed, &redis).ok());
  EXPECT_EQ(redis.id(), "b1");
}

TEST(BackupMapping, OlderFieldsThatAreNotUtf8AreLeftOut) {
  // A manifest planted in the bucket: its bytes become a record; a Backup carrying them would
  // fail every client's parse of the whole page.
  std::string old = Record().SerializeAsString();
  for (const std::string& index : {std::string("\xff\xfe"), std::string("logs")}) {
    old = WithOldField(old, 13, index);
  }
  catalog::BackupRecord parsed;
  ASSERT_TRUE(parsed.ParseFromString(old));
  OsBackup out;
  ASSERT_TRUE(ToApiBackup(parsed, &out).ok());
  ASSERT_EQ(out.indices_size(), 1);
  EXPECT_EQ(out.indices(0), "logs");
  OsBackup read;
  EXPECT_TRUE(read.ParseFromString(out.SerializeAsString()));
}

}  // namespace
}  // namespace mdb::api
