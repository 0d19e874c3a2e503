// Restoring a whole backup into a directory, without the service: the disaster-recovery path
// (`mdb-backup repo restore`). Stream names come from a manifest, which whoever can write to the
// repository can craft, so they are mapped under the directory with io::BeneathDir and never
// overwrite what is there.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "repo/repository.h"

namespace mdb::repo {

struct RestoreDirReport {
  int streams = 0;
  uint64_t bytes = 0;
};

// Writes every stream of `manifest` to `dir`/<stream name> ("shard1/base.tar" becomes a file in
// the directory shard1). Existing files are never overwritten (FailedPrecondition). On any error
// everything this call created is removed again, so a refused or failed restore leaves `dir` as
// it was. A stream name that cannot be a path beneath `dir` is DataLoss.
absl::StatusOr<RestoreDirReport> RestoreToDirectory(Repository* repo, const Manifest& manifest,
                                                    const std::string& dir);

}  // namespace mdb::repo
