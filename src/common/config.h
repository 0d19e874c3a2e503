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
#include "common/engines.h"
#include "common/log.h"

namespace mdb::common {

// One database server of a shard.
struct HostConfig {
  std::string address;                         // host:port
  std::map<std::string, std::string> options;  // engine-specific settings (user, password_file...)
};

struct ShardConfig {
  std::string name;
  std::vector<HostConfig> hosts;
};

// When and where a cluster's restore drills run (ops/drills.h); off unless a trigger is set.
struct DrillConfig {
  int every_backups = 0;  // after every Nth successful backup (0: not by count)
  int every_days = 0;     // when the newest drill of the cluster is older (0: not by age)
  int oldest_every = 4;   // every Nth scheduled drill takes the oldest kept backup, not the newest
  std::string target = "local";  // "local" (throwaway servers) or a cluster with `scratch: true`
  bool enabled() const { return every_backups > 0 || every_days > 0; }
};

// What the service may start for `local` drills (server.drills).
struct DrillsConfig {
  int max_concurrent = 1;  // drills running at once; more wait their turn
  std::string work_dir;    // throwaway servers' directories go under it ("": the system's tmp)
  std::string run_as;      // OS user of the throwaway servers when the service runs as root
  int memory_mb = 0;       // address-space limit of each throwaway server (0: none)
  // Per engine name ("redis", "greenplum", ...): the server binary, or the directory of the
  // engine's binaries (PostgreSQL: postgres, pg_amcheck). Unset: the engine's usual places.
  std::map<std::string, std::string> binaries;
};

struct ClusterConfig {
  std::string id;         // unique, <= 50 characters
  std::string name;       // display name; defaults to the id
  std::string folder_id;  // the folder every backup of the cluster belongs to
  Engine engine = Engine::ENGINE_UNSPECIFIED;
  std::vector<ShardConfig> shards;  // `hosts:` in the file is one shard named after the cluster
  int backup_window_start_minutes = 22 * 60;  // minutes after midnight UTC; default 22:00
  int retention_days = 7;                     // AUTOMATED backups older than this are removed
  // A backup that gets no data from the cluster's databases for this long is stopped
  // (DEADLINE_EXCEEDED): a stalled or hostile source does not hold it, and the cluster's next
  // backups, until someone cancels it. Checked at every heartbeat (lease_seconds / 3). The
  // engine's default: EngineInfo::stall_timeout_seconds.
  int stall_timeout_seconds = 3600;
  // Declared to restore into only: never backed up (MANUAL or AUTOMATED), no journal archived
  // from it, so nothing connects to its servers before (or after) a restore made them.
  bool restore_target = false;
  // A restore target that drills may empty and restore into (implies restore_target).
  bool scratch = false;
  DrillConfig drill;
  int line = 0;  // 1-based line of the declaration, for messages
};

// An API token and what it may do per folder: read (backups and operations), restore (take a
// backup's data into a cluster the token may write) and write (back up, delete, cancel). Write
// implies restore and read; restore implies read; read implies neither (docs/security.md).
struct TokenConfig {
  std::string token;         // `token:` in the file, or empty when the file holds only its hash
  std::string token_sha256;  // `token_sha256:`, 64 lowercase hex digits, or empty
  std::string subject;       // recorded as Operation.created_by; never derived from the token
  std::set<std::string> read_folders;
  std::set<std::string> restore_folders;
  std::set<std::string> write_folders;
  bool all_folders = false;  // read: ["*"] grants reading every folder
};

// TLS of both listeners (PEM files; relative paths are relative to the config file).
struct TlsConfig {
  std::string cert_file;       // certificate chain
  std::string key_file;        // its private key
  std::string client_ca_file;  // when set, clients must present a certificate signed by it
  bool enabled() const { return !cert_file.empty(); }
};

// What one client may hold of the listeners (docs/security.md lists why each default).
struct LimitsConfig {
  int max_request_bytes = 4 << 20;  // REST body and gRPC message; larger ones are refused
  int max_connections = 1024;       // per REST listener
  int max_connections_per_address = 64;
  int header_timeout_seconds = 10;   // connect (or the previous answer) to the end of the headers
  int request_timeout_seconds = 60;  // connect (or the previous answer) to the end of the body
  int idle_timeout_seconds = 30;     // keep-alive connections (REST) and gRPC connections
  int failed_auth_burst = 20;        // wrong tokens one address may send at once...
  int failed_auth_per_minute = 60;   // ...and over time; past them, every call waits its turn
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
  // A failed AUTOMATED backup is tried again this many times the same day, the first this long
  // after the failure, each next pause twice the one before (ops/scheduler.h).
  int automated_retries = 3;
  int automated_retry_seconds = 900;
  int gc_interval_minutes = 360;  // repository GC by itself (and sooner after a failed one)
  // How long an instance vouches for its operations and journal archiving without renewing
  // (several instances on a PostgreSQL catalog: a dead one's work moves on after this).
  int lease_seconds = 30;
  // At SIGTERM, running operations get this long to end, then are stopped (ABORTED, cleaned up
  // as on a cancel): below the service manager's stop timeout (systemd TimeoutStopSec).
  int shutdown_grace_seconds = 240;
  TlsConfig tls;
  // Without TLS, a listener on an address other than loopback carries tokens in clear text: it
  // is refused unless this is set (and then warned about at start).
  bool allow_plaintext = false;
  LimitsConfig limits;
  DrillsConfig drills;
  LogFormat log;  // log_format: text | json; log_level: debug | info | warning | error
};

// True for 127.0.0.0/8, ::1 and "localhost" (the host part of a listen address).
bool IsLoopbackListen(const std::string& listen);

struct Config {
  std::string path;  // the file it was read from
  ServerConfig server;
  std::vector<TokenConfig> tokens;
  std::vector<ClusterConfig> clusters;

  // Returns the cluster with `id`, or nullptr.
  const ClusterConfig* FindCluster(const std::string& id) const;
};

// Parses configuration text; `filename` is used in messages ("file:line: what is wrong"). A
// cluster's `engine` names a row of `engines`.
absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& filename,
                                   const EngineTable& engines);
// Reads and parses the file at `path`.
absl::StatusOr<Config> LoadConfig(const std::string& path, const EngineTable& engines);

}  // namespace mdb::common
