// Object storage: the handful of operations the repository needs, over a local filesystem or S3.
// Keys are '/'-separated relative paths of [A-Za-z0-9._-] segments (no empty segment, no "..").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mdb::storage {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  absl::Time modified;  // last write, as the store reports it
};

// A new object written piece by piece (a pack as it fills), then published by Commit as Put
// publishes a whole one: atomically, durably. Dropped without Commit, it publishes nothing (what a
// crash leaves behind is RemoveIncomplete's). One thread at a time.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  // A failed Append spends the writer: every later call fails and nothing is published.
  [[nodiscard]] virtual absl::Status Append(std::string_view data) = 0;
  // Once; Unavailable as Put's. The writer is spent afterwards, whatever the result (a retry
  // starts a new one).
  [[nodiscard]] virtual absl::Status Commit() = 0;
};

// Thread-safe: every method may be called concurrently from several threads.
class Storage {
 public:
  virtual ~Storage() = default;

  // Stores `data` under `key`, replacing any object there, and publishes it atomically: a reader
  // sees the previous object (or none) or all of `data`, never a part. Returns only once the
  // object is durable (fsync'd / acknowledged by the store). Unavailable when the store failed and
  // a retry may help; the object is then either absent, the old one, or complete.
  [[nodiscard]] virtual absl::Status Put(const std::string& key, std::string_view data) = 0;

  // Optional: a writer of a new object under `key`, about `size_hint` bytes long. The default
  // keeps the bytes in memory and Puts them at Commit; a driver that can take them as they come
  // (posix: a temporary file) overrides it, so that a pack being built costs a buffer, not the
  // whole pack (16 MiB each, up to four at once in a backup: BENCHMARKS.md, bench/greenplum).
  virtual absl::StatusOr<std::unique_ptr<ObjectWriter>> StartPut(const std::string& key,
                                                                 size_t size_hint);

  // Returns the whole object. NotFound if there is none.
  virtual absl::StatusOr<std::string> Get(const std::string& key) = 0;

  // Returns `length` bytes from `offset`. NotFound if there is no object; OutOfRange if the range
  // is not entirely inside the object.
  virtual absl::StatusOr<std::string> GetRange(const std::string& key, uint64_t offset,
                                               uint64_t length) = 0;

  // Every object whose key starts with `prefix`, in key order. An empty result is not an error.
  virtual absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;

  // Size and time of one object. NotFound if there is none.
  virtual absl::StatusOr<ObjectInfo> Stat(const std::string& key) = 0;

  // Removes the object. OK if it did not exist (deletes are retried safely).
  [[nodiscard]] virtual absl::Status Delete(const std::string& key) = 0;

  // Removes what crashed writers left half-written and older than `older_than` (posix temporary
  // files; S3 multipart uploads never completed). Returns how many were removed. Only safe to
  // call when no Put may be running, e.g. under the repository's exclusive lock.
  virtual absl::StatusOr<int> RemoveIncomplete(absl::Duration older_than) { return 0; }

  // A human-readable location for messages, e.g. "posix:/var/backups" or "s3://bucket/prefix".
  virtual std::string Describe() const = 0;
};

// InvalidArgument unless `key` is a valid object key (see above).
absl::Status ValidateKey(const std::string& key);

// Opens a storage from a URL: "/abs/path" or "file:///abs/path" (posix), or
// "s3://bucket/prefix?endpoint=http://127.0.0.1:7070&region=us-east-1&path_style=true" (S3;
// credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
absl::StatusOr<std::unique_ptr<Storage>> OpenStorage(const std::string& url);

}  // namespace mdb::storage
