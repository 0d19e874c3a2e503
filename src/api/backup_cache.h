// Backups as the API shows them, kept between calls. A List(100) parsed 100 stored records and
// mapped each to its engine's Backup message by reflection (backup_mapping.h): about 1.5 µs a
// backup, most of what it cost beyond a Get (BENCHMARKS.md, bench/api). Listings show the same
// records again and again, so each record's serialized Backup is kept, keyed by the digest of
// the record's stored bytes (catalog::RecordDigest): a record changed by any instance (status,
// size, a rebuilt catalog) has another digest and is mapped afresh, never shown stale. The
// catalog asks the cache which digests it holds (ListQuery.known) and reads only the others.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "catalog/catalog.h"
#include "google/protobuf/message.h"

namespace mdb::api {

class BackupMessageCache {
 public:
  // At most `capacity` bytes of records and messages (two generations of capacity / 2: the older
  // one is dropped whole when the newer fills, and an entry found in it moves to the newer), so
  // memory stays bounded whatever the folder's size or a record's (a Backup is ~0.3 KB; an
  // OpenSearch one listing many indices, far more). 8 MiB keep ~10,000 ordinary ones.
  explicit BackupMessageCache(size_t capacity = 8 << 20);

  // The kept Backup of type `type` for a record of this digest; nullptr when none is kept.
  std::shared_ptr<const std::string> Find(const google::protobuf::Descriptor* type,
                                          const catalog::RecordDigest& digest);

  // A catalog::ListQuery::known for `type`: appends Find's answer for each digest to `held`.
  std::function<bool(const catalog::RecordDigest& digest)> Lookup(
      const google::protobuf::Descriptor* type,
      std::vector<std::shared_ptr<const std::string>>* held);

  // Appends the Backup of each listed record (catalog::ListQuery::unparsed) to `out`'s repeated
  // message field `field`, in order: `held[i]` (when `held` has it) is what Find returned for
  // digests[i] when the catalog asked (records[i] is then "" when not null); past its end each
  // digest is looked up here. A record not kept is mapped and kept. With
  // `splice`, as that field's bytes among `out`'s unknown fields: the serialized `out` then
  // reads as if the field had been set (unknown fields are written after known ones, and a
  // repeated field's elements may come anywhere on the wire, in order), without building 100
  // messages to serialize them again; only a transport that sends `out` as it serializes may
  // ask for it. DataLoss for a record that does not parse.
  absl::Status Append(const std::vector<std::string>& records,
                      const std::vector<catalog::RecordDigest>& digests,
                      const std::vector<std::shared_ptr<const std::string>>& held,
                      const google::protobuf::FieldDescriptor* field, bool splice,
                      google::protobuf::Message* out);

  size_t size() const;  // entries

 private:
  // The type is part of the key: the same record shows differently in another engine's Backup.
  // Found without building a string: a page asks a hundred times.
  struct Key {
    const google::protobuf::Descriptor* type;
    catalog::RecordDigest digest;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  // Shared, so that a hit is copied out after the lock is let go.
  using Generation = std::unordered_map<Key, std::shared_ptr<const std::string>, KeyHash>;

  std::shared_ptr<const std::string> FindLocked(const Key& key);       // under mu_
  void Put(const Key& key, std::shared_ptr<const std::string> shown);  // under mu_
  void Forget(const Key& key);                                         // takes mu_

  const size_t half_;
  mutable std::mutex mu_;
  Generation newer_, older_;
  size_t newer_bytes_ = 0;
};

}  // namespace mdb::api
