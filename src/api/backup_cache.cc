#include "api/backup_cache.h"

#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/backup_mapping.h"
#include "catalog/catalog.h"
#include "common/status.h"

namespace mdb::api {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

BackupMessageCache::BackupMessageCache(size_t capacity)
    : half_(capacity / 2 > 0 ? capacity / 2 : 1) {}

size_t BackupMessageCache::KeyHash::operator()(const Key& k) const {
  // The digest is a cryptographic hash already: its first bytes are as good as any hash of it.
  size_t h;
  memcpy(&h, k.digest.data(), sizeof(h));
  return h ^ std::hash<const void*>()(k.type);
}

std::shared_ptr<const std::string> BackupMessageCache::Find(
    const google::protobuf::Descriptor* type, const catalog::RecordDigest& digest) {
  std::lock_guard<std::mutex> lock(mu_);
  return FindLocked(Key{type, digest});
}

std::function<bool(const catalog::RecordDigest&)> BackupMessageCache::Lookup(
    const google::protobuf::Descriptor* type,
    std::vector<std::shared_ptr<const std::string>>* held) {
  return [this, type, held](const catalog::RecordDigest& digest) {
    return held->emplace_back(Find(type, digest)) != nullptr;
  };
}

std::shared_ptr<const std::string> BackupMessageCache::FindLocked(const Key& key) {
  if (auto it = newer_.find(key); it != newer_.end()) return it->second;
  auto it = older_.find(key);
  if (it == older_.end()) return nullptr;
  std::shared_ptr<const std::string> shown = std::move(it->second);
  older_.erase(it);
  Put(key, shown);
  return shown;
}

void BackupMessageCache::Forget(const google::protobuf::Descriptor* type,
                                const catalog::RecordDigest& digest) {
  std::lock_guard<std::mutex> lock(mu_);
  newer_.erase(Key{type, digest});
  older_.erase(Key{type, digest});
}

void BackupMessageCache::Put(const Key& key, std::shared_ptr<const std::string> shown) {
  // What an entry holds: the kept bytes, its key, and about as much again in the map's node and
  // the shared string's header.
  const size_t bytes = shown->size() + 2 * sizeof(Key) + 64;
  if (bytes > half_) return;  // larger than a generation: mapped at every listing
  if (newer_bytes_ + bytes > half_) {
    older_ = std::move(newer_);  // (the older one's strings are freed here, under the lock,
    newer_.clear();              // but only as often as 4 MiB of new entries come in)
    newer_bytes_ = 0;
  }
  if (newer_.insert_or_assign(key, std::move(shown)).second) newer_bytes_ += bytes;
}

absl::StatusOr<std::vector<std::shared_ptr<const std::string>>> BackupMessageCache::Resolve(
    const std::vector<std::string>& records, const std::vector<catalog::RecordDigest>& digests,
    const std::vector<std::shared_ptr<const std::string>>& held,
    const google::protobuf::Descriptor* type) {
  if (!held.empty() && held.size() != records.size()) {  // would show one row's view for another
    return absl::InternalError("the catalog asked of a page's records other than once each");
  }
  std::vector<std::shared_ptr<const std::string>> shown;
  shown.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    // Looked up here when the catalog did not ask (it sent every record).
    std::shared_ptr<const std::string> kept = i < held.size()      ? held[i]
                                              : i < digests.size() ? Find(type, digests[i])
                                                                   : nullptr;
    if (kept) {
      shown.push_back(std::move(kept));
      continue;
    }
    catalog::BackupRecord rec;
    if (!rec.ParseFromString(records[i])) {
      return absl::DataLossError("catalog: a backup record is corrupt");
    }
    std::unique_ptr<Message> mapped(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
    RETURN_IF_ERROR(ToApiBackup(rec, mapped.get()));
    shown.push_back(std::make_shared<const std::string>(mapped->SerializeAsString()));
    if (i >= digests.size()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    Put(Key{type, digests[i]}, shown.back());
  }
  return shown;
}

size_t BackupMessageCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return newer_.size() + older_.size();
}

absl::Status Show(const ListedPage& page, const FieldDescriptor* field, SplicedField* spliced,
                  Message* out, size_t* bad) {
  if (spliced != nullptr) {
    spliced->number = field->number();
    spliced->items.insert(spliced->items.end(), page.shown.begin(), page.shown.end());
    return absl::OkStatus();
  }
  const auto* reflection = out->GetReflection();
  for (size_t i = 0; i < page.shown.size(); ++i) {
    if (!reflection->AddMessage(out, field)->ParseFromString(*page.shown[i])) {
      *bad = i;
      return absl::InternalError("a kept Backup does not parse; list again");
    }
  }
  return absl::OkStatus();
}

std::string ListedPages::KeyOf(const google::protobuf::Descriptor* type,
                               const catalog::ListQuery& q) {
  // Each part ends where its length says: no two queries share a key, whatever their ids hold.
  return absl::StrCat(type->full_name(), "\n", q.engine, "\n", q.folder_id.size(), ":", q.folder_id,
                      q.cluster_id.size(), ":", q.cluster_id, q.page_size, "\n", q.page_token);
}

std::shared_ptr<const ListedPage> ListedPages::Find(const std::string& key, int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  if (version != version_) return nullptr;
  if (auto it = newer_.find(key); it != newer_.end()) return it->second.page;
  auto it = older_.find(key);
  if (it == older_.end()) return nullptr;
  Kept kept = std::move(it->second);  // found again: kept on, in the newer generation
  older_.erase(it);
  std::shared_ptr<const ListedPage> page = kept.page;
  Insert(key, std::move(kept));
  return page;
}

void ListedPages::Put(const std::string& key, int64_t version,
                      std::shared_ptr<const ListedPage> page) {
  size_t bytes = 2 * key.size() + page->next_page_token.size() + 128;
  for (const auto& shown : page->shown) bytes += shown->size() + sizeof(catalog::RecordDigest) + 32;
  if (bytes > half_) return;  // larger than a generation: read at every listing, evicting none
  std::lock_guard<std::mutex> lock(mu_);
  if (version != version_) {
    newer_.clear();  // (freed under the lock, but once per change of the catalog's backups)
    older_.clear();
    newer_bytes_ = 0;
    version_ = version;
  }
  if (newer_.count(key) == 0) Insert(key, Kept{std::move(page), bytes});  // the first one stays
}

void ListedPages::Insert(const std::string& key, Kept kept) {
  if (newer_bytes_ + kept.bytes > half_) {
    older_ = std::move(newer_);
    newer_.clear();
    newer_bytes_ = 0;
  }
  older_.erase(key);
  newer_bytes_ += kept.bytes;
  newer_.insert_or_assign(key, std::move(kept));
}

void ListedPages::Drop(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = newer_.find(key); it != newer_.end()) {
    newer_bytes_ -= it->second.bytes;
    newer_.erase(it);
  }
  older_.erase(key);
}

size_t ListedPages::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return newer_.size() + older_.size();
}

}  // namespace mdb::api
