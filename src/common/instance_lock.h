// One process per catalog: an exclusive lock on a file beside it, held while the object lives.
// flock on an open descriptor, so a process that is killed releases it with no stale file to
// clean up. The file holds the holder's pid, for the message of whoever is refused.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace mdb::common {

class InstanceLock {
 public:
  // FailedPrecondition naming the holder's pid when another process holds `path`.
  static absl::StatusOr<std::unique_ptr<InstanceLock>> Acquire(const std::string& path);
  ~InstanceLock();
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

 private:
  explicit InstanceLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace mdb::common
