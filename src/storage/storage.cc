// Key validation and the driver table: every driver is listed here, explicitly.
#include "storage/storage.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "storage/posix/posix_storage.h"
#include "storage/s3/s3_storage.h"

namespace mdb::storage {

absl::Status ValidateKey(const std::string& key) {
  auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid object key '", key, "': ", why));
  };
  if (key.empty() || key.size() > 512) return bad("must be 1-512 characters");
  for (absl::string_view seg : absl::StrSplit(key, '/')) {
    if (seg.empty()) return bad("empty path segment");
    if (seg == "." || seg == "..") return bad("'.' and '..' are not allowed");
    for (char c : seg) {
      if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
        return bad("only letters, digits, '.', '_' and '-' are allowed");
      }
    }
  }
  return absl::OkStatus();
}

namespace {

// StartPut's default: the object in memory, one Put at the end.
class BufferedObjectWriter final : public ObjectWriter {
 public:
  BufferedObjectWriter(Storage* storage, std::string key, size_t size_hint)
      : storage_(storage), key_(std::move(key)) {
    data_.reserve(size_hint);  // once: growing by doubling would copy it and touch twice its size
  }
  absl::Status Append(std::string_view data) override {
    if (spent_) return Spent();
    data_.append(data);
    return absl::OkStatus();
  }
  absl::Status Commit() override {
    if (spent_) return Spent();
    spent_ = true;  // a second Commit would Put an empty object over this one
    absl::Status st = storage_->Put(key_, data_);
    std::string().swap(data_);
    return st;
  }

 private:
  static absl::Status Spent() {
    return absl::FailedPreconditionError("the object writer is already committed");
  }
  Storage* storage_;
  std::string key_;
  std::string data_;
  bool spent_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ObjectWriter>> Storage::StartPut(const std::string& key,
                                                                size_t size_hint) {
  if (absl::Status st = ValidateKey(key); !st.ok()) return st;
  return std::make_unique<BufferedObjectWriter>(this, key, size_hint);
}

absl::StatusOr<std::unique_ptr<Storage>> OpenStorage(const std::string& url) {
  if (absl::StartsWith(url, "s3://")) return OpenS3Storage(url);
  if (absl::StartsWith(url, "file://")) return OpenPosixStorage(url.substr(7));
  if (absl::StartsWith(url, "/")) return OpenPosixStorage(url);
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported repository location '", url,
                   "': use an absolute path, file:///path or s3://bucket/prefix?endpoint=..."));
}

}  // namespace mdb::storage
