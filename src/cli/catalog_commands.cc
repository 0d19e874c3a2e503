#include "cli/catalog_commands.h"

#include <fstream>
#include <iostream>

#include "catalog/catalog.h"
#include "cli/repo_commands.h"
#include "common/ids.h"
#include "engine/all.h"
#include "google/protobuf/util/json_util.h"
#include "ops/reconcile.h"

namespace mdb::cli {

int ImportCatalog(const std::string& catalog_path, const std::string& file) {
  auto catalog = catalog::OpenCatalog(catalog_path);
  if (!catalog.ok()) {
    std::cerr << "mdb-backup: " << catalog.status().message() << "\n";
    return 1;
  }
  std::ifstream in_file;
  std::istream* in = &std::cin;
  if (file != "-") {
    in_file.open(file);
    if (!in_file) {
      std::cerr << "mdb-backup: cannot read '" << file << "'\n";
      return 1;
    }
    in = &in_file;
  }
  std::string line;
  int n = 0, lineno = 0;
  // Records are stored in batches, each in one transaction: fast, and a bad line stores nothing
  // of its batch.
  std::vector<catalog::BackupRecord> batch;
  auto flush = [&]() {
    if (batch.empty()) return true;
    if (auto put = (*catalog)->PutBackups(batch); !put.ok()) {
      std::cerr << "mdb-backup: " << file << ": " << put.message() << "\n";
      return false;
    }
    n += static_cast<int>(batch.size());
    batch.clear();
    return true;
  };
  while (std::getline(*in, line)) {
    ++lineno;
    if (line.empty()) continue;
    catalog::BackupRecord rec;
    auto st = google::protobuf::util::JsonStringToMessage(line, &rec);
    if (!st.ok()) {
      std::cerr << "mdb-backup: " << file << ":" << lineno
                << ": not a BackupRecord: " << st.message() << "\n";
      return 1;
    }
    if (rec.id().empty()) rec.set_id(common::NewId());
    if (rec.engine() == catalog::Engine::ENGINE_UNSPECIFIED || rec.folder_id().empty() ||
        rec.cluster_id().empty() || !rec.has_created_at()) {
      std::cerr << "mdb-backup: " << file << ":" << lineno
                << ": engine, folderId, clusterId and createdAt are required\n";
      return 1;
    }
    std::cout << rec.id() << "\n";
    batch.push_back(std::move(rec));
    if (batch.size() == 10000 && !flush()) return 1;
  }
  if (!flush()) return 1;
  std::cerr << "imported " << n << " backups into " << catalog_path << "\n";
  return 0;
}

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
