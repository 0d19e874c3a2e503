// Backups as the API shows them, kept between calls. A List(100) parsed 100 stored records and
// mapped each to its engine's Backup message by reflection (backup_mapping.h): about 1.5 µs a
// backup, most of what it cost beyond a Get (BENCHMARKS.md, bench/api). Listings show the same
// records again and again, so each record's serialized Backup is kept, keyed by the digest of
// the record's stored bytes (catalog::RecordDigest): a record changed by any instance (status,
// size, a rebuilt catalog) has another digest and is mapped afresh, never shown stale. The
// catalog asks the cache which digests it holds (ListQuery.known) and reads only the others.
// Whole pages are kept as well (ListedPages), for as long as the catalog says no backup changed.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/spliced.h"
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

  // The Backup of type `type` of each listed record (catalog::ListQuery::unparsed), serialized,
  // in order: `held[i]` (when `held` has it) is what Find returned for digests[i] when the
  // catalog asked (records[i] is then "" when not null); past its end each digest is looked up
  // here. A record not kept is mapped and kept. DataLoss for a record that does not parse.
  absl::StatusOr<std::vector<std::shared_ptr<const std::string>>> Resolve(
      const std::vector<std::string>& records, const std::vector<catalog::RecordDigest>& digests,
      const std::vector<std::shared_ptr<const std::string>>& held,
      const google::protobuf::Descriptor* type);

  // Drops what is kept for this digest (bytes that did not parse back).
  void Forget(const google::protobuf::Descriptor* type, const catalog::RecordDigest& digest);

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

  const size_t half_;
  mutable std::mutex mu_;
  Generation newer_, older_;
  size_t newer_bytes_ = 0;
};

// One page of a listing as List showed it.
struct ListedPage {
  std::vector<std::shared_ptr<const std::string>> shown;  // each Backup, serialized, in order
  std::vector<catalog::RecordDigest> digests;             // of the records they were mapped from
  std::string next_page_token;
};

// Appends a page's Backups to `out`'s repeated message field `field`: handed over as bytes when
// the transport takes them so (`spliced`, see spliced.h), else parsed into `out`. Internal, and
// the index of the Backup in `bad`, when kept bytes do not parse (only bytes a Backup serialized
// to are kept, and the mapping leaves out the strings protobuf would not read back).
absl::Status Show(const ListedPage& page, const google::protobuf::FieldDescriptor* field,
                  SplicedField* spliced, google::protobuf::Message* out, size_t* bad);

// Whole pages of listings, kept while the catalog's BackupsVersion reads the same: a page listed
// again (a console refreshing, an SDK walking a folder) is then one read of that version, not a
// walk of the catalog's index and a lookup of each of its backups. A page is kept under the
// version read before the catalog was, so it shows at least what that version names. Only pages
// the catalog answered are kept (a page token it refused is not). Bounded in bytes whatever the
// folders' sizes, in two generations as BackupMessageCache (the Backups are mostly shared with
// it, but counted whole here).
class ListedPages {
 public:
  explicit ListedPages(size_t capacity = 4 << 20) : half_(capacity / 2 > 0 ? capacity / 2 : 1) {}

  // What names a page: the Backup type it shows, and the walk and the place in it.
  static std::string KeyOf(const google::protobuf::Descriptor* type, const catalog::ListQuery& q);

  // The page kept under `key` at `version`; nullptr when none is.
  std::shared_ptr<const ListedPage> Find(const std::string& key, int64_t version);
  // Keeps `page`, read after the catalog's version was `version`. Pages kept under another
  // version are dropped first: the catalog has changed since one of the two was read (versions
  // are not ordered, so the page that comes in wins; a slower reader costs only hits).
  void Put(const std::string& key, int64_t version, std::shared_ptr<const ListedPage> page);
  void Drop(const std::string& key);

  size_t size() const;  // pages

 private:
  struct Kept {
    std::shared_ptr<const ListedPage> page;
    size_t bytes;  // what it is counted for: its Backups, key and token, and the map's node
  };
  using Generation = std::unordered_map<std::string, Kept>;
  void Insert(const std::string& key, Kept kept);  // under mu_: into the newer, rotating first

  const size_t half_;
  mutable std::mutex mu_;
  int64_t version_ = 0;
  Generation newer_, older_;
  size_t newer_bytes_ = 0;
};

}  // namespace mdb::api
