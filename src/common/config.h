// The service configuration: listen addresses, the catalog, API tokens and the declared clusters.
// Read from a YAML file at start and again on SIGHUP; see docs/configuration.md.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mdb_backup/v1/records.pb.h"

namespace mdb::common {

using Engine = ::mdb_backup::v1::Engine;

// One database server of a shard.
struct HostConfig {
  std::string address;                         // host:port
  std::map<std::string, std::string> options;  // engine-specific settings (user, password_file...)
};

struct ShardConfig {
  std::string name;
  std::vector<HostConfig> hosts;
};

struct ClusterConfig {
  std::string id;         // unique, <= 50 characters
  std::string name;       // display name; defaults to the id
  std::string folder_id;  // the folder every backup of the cluster belongs to
  Engine engine = Engine::ENGINE_UNSPECIFIED;
  std::vector<ShardConfig> shards;  // `hosts:` in the file is one shard named after the cluster
  int backup_window_start_minutes = 22 * 60;  // minutes after midnight UTC; default 22:00
  int retention_days = 7;                     // AUTOMATED backups older than this are removed
  int line = 0;                               // 1-based line of the declaration, for messages
};

// An API token and the folders it may read and write. Write implies read.
struct TokenConfig {
  std::string token;
  std::string subject;  // who the token belongs to; recorded as Operation.created_by
  std::set<std::string> read_folders;
  std::set<std::string> write_folders;
  bool all_folders = false;  // folders: ["*"] grants every folder
};

struct ServerConfig {
  std::string grpc_listen = "127.0.0.1:50051";
  std::string rest_listen = "127.0.0.1:8080";
  std::string catalog_path = "mdb-backup.db";  // relative paths are relative to the config file
  int worker_threads = 2;                      // operations (delete, backup...) run on these
  // The backup repository: a path (relative to the config file) or s3://bucket/prefix?endpoint=..
  // Created on first start when it does not exist.
  std::string repository = "repository";
  std::string repository_key_file;  // 32-byte key: the repository is encrypted when set
  bool automated_backups = true;    // run the daily AUTOMATED backups and retention
  int gc_interval_minutes = 360;    // repository GC by itself (and sooner after a failed one)
};

struct Config {
  std::string path;  // the file it was read from
  ServerConfig server;
  std::vector<TokenConfig> tokens;
  std::vector<ClusterConfig> clusters;

  // Returns the cluster with `id`, or nullptr.
  const ClusterConfig* FindCluster(const std::string& id) const;
};

// Parses configuration text; `filename` is used in messages ("file:line: what is wrong").
absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& filename);
// Reads and parses the file at `path`.
absl::StatusOr<Config> LoadConfig(const std::string& path);

// "greenplum" <-> Engine; the lowercase names used in config files and the CLI.
absl::StatusOr<Engine> ParseEngine(const std::string& name);
std::string EngineName(Engine engine);

}  // namespace mdb::common
