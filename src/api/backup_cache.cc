#include "api/backup_cache.h"

#include <cstring>
#include <memory>
#include <utility>

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

void BackupMessageCache::Forget(const Key& key) {
  std::lock_guard<std::mutex> lock(mu_);
  newer_.erase(key);
  older_.erase(key);
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

absl::Status BackupMessageCache::Append(const std::vector<std::string>& records,
                                        const std::vector<catalog::RecordDigest>& digests,
                                        const std::vector<std::shared_ptr<const std::string>>& held,
                                        const FieldDescriptor* field, bool splice, Message* out) {
  if (!held.empty() && held.size() != records.size()) {  // would show one row's view for another
    return absl::InternalError("the catalog asked of a page's records other than once each");
  }
  const auto* reflection = out->GetReflection();
  const auto* type = field->message_type();
  for (size_t i = 0; i < records.size(); ++i) {
    // Looked up here when the catalog did not ask (it sent every record).
    std::shared_ptr<const std::string> kept = i < held.size()      ? held[i]
                                              : i < digests.size() ? Find(type, digests[i])
                                                                   : nullptr;
    // Copied out of the cache without its lock: pages of other callers do not wait on it.
    if (kept && splice) {
      reflection->MutableUnknownFields(out)->AddLengthDelimited(field->number(), *kept);
      continue;
    }
    if (kept) {
      if (reflection->AddMessage(out, field)->ParseFromString(*kept)) continue;
      // Only bytes a Backup serialized to are kept, and they parse (the mapping leaves out the
      // strings protobuf would not read back: backup_mapping.h); were one not to, it is dropped,
      // and the record mapped afresh when the catalog sent it, else the page fails once (rather
      // than show a part of it) and the next listing reads the record.
      reflection->RemoveLast(out, field);
      Forget(Key{type, digests[i]});
      if (records[i].empty()) return absl::InternalError("a kept Backup does not parse");
    }
    catalog::BackupRecord rec;
    if (!rec.ParseFromString(records[i])) {
      return absl::DataLossError("catalog: a backup record is corrupt");
    }
    std::unique_ptr<Message> mapped(reflection->GetMessageFactory()->GetPrototype(type)->New());
    RETURN_IF_ERROR(ToApiBackup(rec, mapped.get()));
    auto shown = std::make_shared<const std::string>(mapped->SerializeAsString());
    if (splice) {
      reflection->MutableUnknownFields(out)->AddLengthDelimited(field->number(), *shown);
    } else {
      reflection->AddAllocatedMessage(out, field, mapped.release());
    }
    if (kept || i >= digests.size()) continue;  // (unreadable when kept: not put again)
    std::lock_guard<std::mutex> lock(mu_);
    Put(Key{type, digests[i]}, std::move(shown));
  }
  return absl::OkStatus();
}

size_t BackupMessageCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return newer_.size() + older_.size();
}

}  // namespace mdb::api
