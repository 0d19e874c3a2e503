// `mdb-backup catalog rebuild`: the disaster-recovery path for a lost catalog.
#pragma once

#include <string>

namespace mdb::cli {

// Adds to the catalog at `catalog_path` (created when missing) a record for every committed
// backup in the repository at `repo_url` that it lacks, from the manifests' service records, with
// journal sizes recomputed from the repository. Prints what it did; returns the exit code.
int RebuildCatalog(const std::string& catalog_path, const std::string& repo_url,
                   const std::string& key_file);

}  // namespace mdb::cli
