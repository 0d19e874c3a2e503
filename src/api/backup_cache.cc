#include "api/backup_cache.h"

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

std::shared_ptr<const std::string> BackupMessageCache::Find(const std::string& key) {
  if (auto it = newer_.find(key); it != newer_.end()) return it->second;
  auto it = older_.find(key);
  if (it == older_.end()) return nullptr;
  std::shared_ptr<const std::string> shown = std::move(it->second);
  older_.erase(it);
  Put(key, shown);
  return shown;
}

void BackupMessageCache::Put(std::string key, std::shared_ptr<const std::string> shown) {
  const size_t bytes = key.size() + shown->size();
  if (bytes > half_) return;  // larger than a generation: mapped at every listing
  if (newer_bytes_ + bytes > half_) {
    older_ = std::move(newer_);  // (the older one's strings are freed here, under the lock,
    newer_.clear();              // but only as often as 4 MiB of new entries come in)
    newer_bytes_ = 0;
  }
  if (newer_.insert_or_assign(std::move(key), std::move(shown)).second) newer_bytes_ += bytes;
}

absl::Status BackupMessageCache::Append(const std::vector<std::string>& records,
                                        const FieldDescriptor* field, bool splice, Message* out) {
  const auto* reflection = out->GetReflection();
  // The type is part of the key: the same record shows differently in another engine's Backup.
  std::string key = absl::StrCat(field->message_type()->full_name(), "\n");
  const size_t prefix = key.size();
  for (const std::string& stored : records) {
    key.resize(prefix);
    key.append(stored);
    std::shared_ptr<const std::string> kept;
    {
      std::lock_guard<std::mutex> lock(mu_);
      kept = Find(key);
    }
    // Copied out of the cache after the lock: pages of other callers do not wait on it.
    if (kept && splice) {
      reflection->MutableUnknownFields(out)->AddLengthDelimited(field->number(), *kept);
      continue;
    }
    if (kept) {
      if (reflection->AddMessage(out, field)->ParseFromString(*kept)) continue;
      // Only bytes a Backup serialized to are kept, and they parse; were one not to (a string
      // protobuf would not read back), the record is mapped afresh rather than the page failed.
      reflection->RemoveLast(out, field);
    }
    catalog::BackupRecord rec;
    if (!rec.ParseFromString(stored)) {
      return absl::DataLossError("catalog: a backup record is corrupt");
    }
    std::unique_ptr<Message> mapped(
        reflection->GetMessageFactory()->GetPrototype(field->message_type())->New());
    RETURN_IF_ERROR(ToApiBackup(rec, mapped.get()));
    auto shown = std::make_shared<const std::string>(mapped->SerializeAsString());
    if (splice) {
      reflection->MutableUnknownFields(out)->AddLengthDelimited(field->number(), *shown);
    } else {
      reflection->AddAllocatedMessage(out, field, mapped.release());
    }
    if (kept) continue;  // already kept (and unreadable): not put again
    std::lock_guard<std::mutex> lock(mu_);
    Put(key, std::move(shown));
  }
  return absl::OkStatus();
}

size_t BackupMessageCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return newer_.size() + older_.size();
}

}  // namespace mdb::api
