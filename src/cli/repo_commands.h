// `mdb-backup repo ...`: create, inspect, verify and garbage-collect a backup repository directly
// (no server needed), and back up or restore plain files through it.
#pragma once

#include <CLI/CLI.hpp>

namespace mdb::cli {

// Adds the `repo` subcommand tree to `app`; the returned callback runs the chosen command after
// parsing and returns the process exit code.
std::function<int()> AddRepoCommands(CLI::App* app);

}  // namespace mdb::cli
