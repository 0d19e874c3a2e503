// Backups as the API shows them, kept between calls. A List(100) parsed 100 stored records and
// mapped each to its engine's Backup message by reflection (backup_mapping.h): about 1.5 µs a
// backup, most of what it cost beyond a Get (BENCHMARKS.md, bench/api). Listings show the same
// records again and again, so each record's serialized Backup is kept, keyed by the record's
// stored bytes: a record changed by any instance (status, size, a rebuilt catalog) has other
// bytes and is mapped afresh, never shown stale.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace mdb::api {

class BackupMessageCache {
 public:
  // At most `capacity` bytes of records and messages (two generations of capacity / 2: the older
  // one is dropped whole when the newer fills, and an entry found in it moves to the newer), so
  // memory stays bounded whatever the folder's size or a record's (a Backup is ~0.3 KB; an
  // OpenSearch one listing many indices, far more). 8 MiB keep ~10,000 ordinary ones.
  explicit BackupMessageCache(size_t capacity = 8 << 20);

  // Appends the Backup of each stored record (catalog::ListQuery::unparsed) to `out`'s repeated
  // message field `field`, in order. With `splice`, as that field's bytes among `out`'s unknown
  // fields: the serialized `out` then reads as if the field had been set (unknown fields are
  // written after known ones, and a repeated field's elements may come anywhere on the wire, in
  // order), without building 100 messages to serialize them again; only a transport that sends
  // `out` as it serializes may ask for it. DataLoss for a record that does not parse.
  absl::Status Append(const std::vector<std::string>& records,
                      const google::protobuf::FieldDescriptor* field, bool splice,
                      google::protobuf::Message* out);

  size_t size() const;  // entries

 private:
  // Key: type + record bytes. Shared, so that a hit is copied out after the lock is let go.
  using Generation = std::unordered_map<std::string, std::shared_ptr<const std::string>>;

  std::shared_ptr<const std::string> Find(const std::string& key);      // under mu_
  void Put(std::string key, std::shared_ptr<const std::string> shown);  // under mu_

  const size_t half_;
  mutable std::mutex mu_;
  Generation newer_, older_;
  size_t newer_bytes_ = 0;
};

}  // namespace mdb::api
