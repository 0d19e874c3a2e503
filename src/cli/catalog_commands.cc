#include "cli/catalog_commands.h"

#include <iostream>

#include "catalog/catalog.h"
#include "ops/reconcile.h"
#include "repo/repository.h"
#include "storage/storage.h"

namespace mdb::cli {

int RebuildCatalog(const std::string& catalog_path, const std::string& repo_url,
                   const std::string& key_file) {
  auto fail = [](const absl::Status& st) {
    std::cerr << "mdb-backup: " << st.message() << "\n";
    return 1;
  };
  auto storage = storage::OpenStorage(repo_url);
  if (!storage.ok()) return fail(storage.status());
  repo::OpenOptions options;
  if (!key_file.empty()) {
    auto key = repo::ReadKeyFile(key_file);
    if (!key.ok()) return fail(key.status());
    options.key = *key;
  }
  auto repository = repo::Repository::Open(storage->get(), options);
  if (!repository.ok()) return fail(repository.status());
  auto catalog = catalog::OpenSqliteCatalog(catalog_path);
  if (!catalog.ok()) return fail(catalog.status());
  auto report = ops::Reconcile(catalog->get(), repository->get(), {});
  if (!report.ok()) return fail(report.status());
  for (const auto& id : report->added) std::cout << "added " << id << "\n";
  for (const auto& line : report->unreadable) std::cout << "unreadable " << line << "\n";
  for (const auto& id : report->unrecorded) {
    std::cout << "skipped " << id << ": no service record (written by hand or by a version "
              << "before records were kept in manifests)\n";
  }
  std::cout << "catalog " << catalog_path << ": " << report->added.size() << " backups added from "
            << (*storage)->Describe() << "\n";
  return 0;
}

}  // namespace mdb::cli
