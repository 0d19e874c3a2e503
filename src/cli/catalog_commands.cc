#include "cli/catalog_commands.h"

#include <iostream>

#include "catalog/catalog.h"
#include "cli/repo_commands.h"
#include "engine/all.h"
#include "ops/reconcile.h"

namespace mdb::cli {

int RebuildCatalog(const std::string& catalog_path, const std::string& repo_url,
                   const std::string& key_file) {
  auto fail = [](const absl::Status& st) {
    std::cerr << "mdb-backup: " << st.message() << "\n";
    return 1;
  };
  auto opened = OpenRepository(repo_url, key_file, repo::OpenOptions{}.threads);
  if (!opened.ok()) return fail(opened.status());
  auto catalog = catalog::OpenCatalog(catalog_path);
  if (!catalog.ok()) return fail(catalog.status());
  // Not beside a running service: its deletes would race the rows a rebuild writes back.
  auto exclusive = (*catalog)->AcquireExclusiveUse();
  if (!exclusive.ok()) return fail(exclusive.status());
  auto report = ops::Reconcile(catalog->get(), opened->repo.get(), {}, engine::BuiltInEngines());
  if (!report.ok()) return fail(report.status());
  for (const auto& line : report->upgraded) std::cout << "moved " << line << "\n";
  for (const auto& id : report->added) std::cout << "added " << id << "\n";
  for (const auto& line : report->unreadable) std::cout << "unreadable " << line << "\n";
  for (const auto& id : report->unrecorded) {
    std::cout << "skipped " << id << ": no service record (written by hand or by a version "
              << "before records were kept in manifests)\n";
  }
  std::cout << "catalog " << catalog_path << ": " << report->added.size() << " backups added from "
            << opened->storage->Describe() << "\n";
  return 0;
}

}  // namespace mdb::cli
