// Storage on a local (or mounted) filesystem.
#pragma once

#include "storage/storage.h"

namespace mdb::storage {

// Objects are files under `root`; '/' in keys makes subdirectories. Put writes a temporary file
// in the same directory, fsyncs it, renames it over the key and fsyncs the directory, so a crash
// at any moment leaves the old object or the new one. Temporary files of crashed writers end in
// ".tmp-*" and are ignored by List (the repository's GC removes them).
// Creates `root` if it does not exist.
absl::StatusOr<std::unique_ptr<Storage>> OpenPosixStorage(const std::string& root);

}  // namespace mdb::storage
