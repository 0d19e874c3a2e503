// `mdb-backup repo ...`: create, inspect, verify and garbage-collect a backup repository directly
// (no server needed), and back up or restore plain files through it.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "repo/repository.h"
#include "storage/storage.h"

namespace mdb::cli {

// A repository opened for one command, with the storage it reads (which must outlive it).
struct OpenedRepo {
  std::unique_ptr<storage::Storage> storage;
  std::unique_ptr<repo::Repository> repo;
};

// Opens the repository at `url` (a path or s3://...), with the key in `key_file` unless empty.
absl::StatusOr<OpenedRepo> OpenRepository(const std::string& url, const std::string& key_file,
                                          int threads);

// Adds the `repo` subcommand tree to `app`; the returned callback runs the chosen command after
// parsing and returns the process exit code.
std::function<int()> AddRepoCommands(CLI::App* app);

}  // namespace mdb::cli
