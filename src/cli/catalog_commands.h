// `mdb-backup catalog rebuild`: the disaster-recovery path for a lost catalog; `catalog import`.
#pragma once

#include <string>

namespace mdb::cli {

// Adds to the catalog at `catalog_path` (created when missing) a record for every committed
// backup in the repository at `repo_url` that it lacks, from the manifests' service records, with
// journal sizes recomputed from the repository. Prints what it did; returns the exit code.
// Adds backup records (JSON lines of mdb_backup.v1.BackupRecord, `file` or - for stdin) to the
// catalog at `catalog_path`; returns the exit code.
int ImportCatalog(const std::string& catalog_path, const std::string& file);

int RebuildCatalog(const std::string& catalog_path, const std::string& repo_url,
                   const std::string& key_file);

}  // namespace mdb::cli
