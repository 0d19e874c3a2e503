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

const std::string* BackupMessageCache::Find(const std::string& key) {
  if (auto it = newer_.find(key); it != newer_.end()) return &it->second;
  auto it = older_.find(key);
  if (it == older_.end()) return nullptr;
  std::string shown = std::move(it->second);
  older_.erase(it);
  Put(key, std::move(shown));
  auto moved = newer_.find(key);
  return moved == newer_.end() ? nullptr : &moved->second;
}

void BackupMessageCache::Put(std::string key, std::string shown) {
  const size_t bytes = key.size() + shown.size();
  if (bytes > half_) return;  // larger than a generation: mapped at every listing
  if (newer_bytes_ + bytes > half_) {
    older_ = std::move(newer_);
    newer_.clear();
    newer_bytes_ = 0;
  }
  if (newer_.insert_or_assign(std::move(key), std::move(shown)).second) newer_bytes_ += bytes;
}

absl::Status BackupMessageCache::Append(const std::vector<std::string>& records,
                                        const FieldDescriptor* field, bool splice, Message* out) {
  const auto* reflection = out->GetReflection();
  auto emit = [&](const std::string& shown) {
    if (splice) {
      reflection->MutableUnknownFields(out)->AddLengthDelimited(field->number(), shown);
      return true;
    }
    return reflection->AddMessage(out, field)->ParseFromString(shown);
  };
  // The type is part of the key: the same record shows differently in another engine's Backup.
  std::string key = absl::StrCat(field->message_type()->full_name(), "\n");
  const size_t prefix = key.size();
  for (const std::string& stored : records) {
    key.resize(prefix);
    key.append(stored);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (const std::string* kept = Find(key)) {
        if (!emit(*kept)) return absl::InternalError("a kept Backup does not parse");  // ours
        continue;
      }
    }
    catalog::BackupRecord rec;
    if (!rec.ParseFromString(stored)) {
      return absl::DataLossError("catalog: a backup record is corrupt");
    }
    std::unique_ptr<Message> mapped(
        reflection->GetMessageFactory()->GetPrototype(field->message_type())->New());
    RETURN_IF_ERROR(ToApiBackup(rec, mapped.get()));
    std::string shown = mapped->SerializeAsString();
    if (splice) {
      emit(shown);
    } else {
      reflection->AddAllocatedMessage(out, field, mapped.release());
    }
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
