// The engine driver interface: one implementation per database engine, in its own folder. A
// driver speaks its database's protocol and turns a cluster into named byte streams in a
// repository backup, and back; everything else (ids, catalog, operations, retention, the API) is
// shared machinery in ops/ and api/. Each engine is one row of the engine table (EngineModule
// below; the rows are listed in engine/all.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/child_process.h"
#include "common/config.h"
#include "google/protobuf/any.pb.h"
#include "repo/repository.h"

namespace mdb::engine {

struct Capabilities {
  bool incremental = false;    // can build on a parent backup (else dedup only)
  bool point_in_time = false;  // can restore to a time using a journal
};

struct BackupRequest {
  const common::ClusterConfig* cluster;
  std::string backup_id;
  const repo::Manifest* previous = nullptr;  // the cluster's newest committed backup, if any
  const repo::Manifest* parent = nullptr;    // set when this backup is INCREMENTAL on it
  repo::Repository* repository = nullptr;    // to read what earlier backups hold
  repo::BackupWriter* writer;                // add streams here; the caller commits
  const std::atomic<bool>* cancelled;        // checked between steps; return Cancelled when set
};

struct BackupResult {
  std::vector<std::string> shard_names;  // shards the backup holds, in declaration order
  std::string metadata;                  // engine-defined; stored in the manifest
  // API fields only this engine has (OpenSearch: indices, version): a message of the engine's
  // public Backup type, shown under the record's own fields (api/backup_mapping.h). Empty: none.
  google::protobuf::Any engine_fields;
  int64_t data_size = -1;     // the database's own size of what the backup holds; -1: logical
  int64_t restore_size = -1;  // free space a restore needs; -1: the backup's logical bytes
  // Asked to build on a parent, the engine took nothing from it (every shard copied whole: a
  // new history, an unreadable parent): the backup is recorded BASE, without the parent.
  bool whole = false;
};

struct RestoreRequest {
  const repo::Manifest* manifest;
  repo::Repository* repository;
  const common::ClusterConfig* target;  // where to restore: same engine and shard layout
  const std::atomic<bool>* cancelled;
  std::atomic<int64_t>* bytes_done = nullptr;  // plaintext bytes restored so far (progress)
  // The backup's ancestors, BASE first, when it is INCREMENTAL (their data completes it).
  std::vector<repo::Manifest> ancestors;
  std::string source_cluster_id;          // the cluster the backup was taken of
  repo::JournalStore* journal = nullptr;  // the source cluster's journal pieces
  std::optional<absl::Time>
      point_in_time;  // replay the journal up to here (else the backup's point)
  // The request's restore_options: the engine's own message, serialized ("": the whole backup).
  // Only engines whose RestoreClusterRequest has the field (OpenSearch) are given any.
  std::string engine_options;
  // False for a drill's copy, checked and thrown away: the restored files are not synced to disk
  // (the sync is a restore's own cost, and a drill only has to prove the data).
  bool durable = true;
};

// One finding of a pre-flight check (Driver::Check): a requirement of one server, met or not.
struct CheckItem {
  enum class Level { kOk, kWarning, kFailed };
  Level level = Level::kOk;
  std::string where;   // "<shard> <host:port>"
  std::string what;    // the requirement, e.g. "replication connection"
  std::string detail;  // what was found
  std::string fix;     // for a warning or failure: the exact command or config line to apply
  // A failure to talk to the server (down, refusing, answering nonsense) rather than a
  // requirement it answered is missing: the backup itself reports it, with its own status code.
  bool unreachable = false;
};

// What Driver::UpgradeRepository did.
struct UpgradeReport {
  int moved = 0;                      // objects now in today's form
  std::vector<std::string> problems;  // "<object>: why" of those left where they were
};

// How far the archived journal carries a restore of one backup (Driver::JournalReaches).
struct JournalReach {
  absl::Time until;     // a restore reaches any time before this (and the backup's own point)
  std::string stopped;  // why not later, naming the shard: a gap, or the newest piece so far
  bool gap = false;     // stopped by missing journal (later pieces exist), not at its current end
};

// One piece of journal (a WAL segment) committed to the repository.
struct JournalPiece {
  std::string shard;
  std::string object;  // the repository object holding it (its journal store key)
  uint64_t start = 0;  // engine positions covered: [start, end)
  uint64_t end = 0;
  uint64_t stored_bytes = 0;
};

struct JournalOptions {
  const common::ClusterConfig* cluster;
  repo::JournalStore* journal;                        // where pieces go
  std::function<void(const JournalPiece&)> on_piece;  // called from the journal's threads
  std::function<void(const std::string&)> log;        // problems worth an operator's attention
};

// Throwaway servers for a restore drill (Driver::PrepareScratch): one per shard of the backup.
struct ScratchRequest {
  const repo::Manifest* manifest;  // the backup to be restored into them
  std::string dir;                 // an empty directory of their own; removed by the caller after
  std::string binary;              // the configured server binary or its directory ("": usual)
  common::ChildOptions process;    // user, limits (output_file: set per server by the driver)
  const std::atomic<bool>* cancelled;
};

// The servers of one drill. Destroying it stops them (the caller then removes the directory).
class Scratch {
 public:
  virtual ~Scratch() = default;
  // The cluster a Restore writes into (addresses, data directories under the drill's dir).
  virtual const common::ClusterConfig& target() const = 0;
  // Around the Restore: servers that load a snapshot (Redis) start before it, servers started on
  // the restored files (PostgreSQL) after it, and are then waited for until they accept queries.
  [[nodiscard]] virtual absl::Status BeforeRestore() { return absl::OkStatus(); }
  [[nodiscard]] virtual absl::Status AfterRestore() { return absl::OkStatus(); }
  // The tools directory and user a check runs with (pg_amcheck), when the engine has one.
  virtual std::string tools() const { return ""; }
};

// The data a restore left in `target`, checked against what the backup recorded of it.
struct VerifyRequest {
  const repo::Manifest* manifest;
  repo::Repository* repository;  // facts kept as streams of the backup
  const common::ClusterConfig* target;
  const Scratch* scratch = nullptr;  // the drill's own servers; null for a declared scratch cluster
  common::ChildOptions process;      // for check tools (pg_amcheck)
  const std::atomic<bool>* cancelled;
};

struct VerifyResult {
  std::vector<std::string> checked;   // what was found as recorded, one line each
  std::vector<std::string> problems;  // what was not: the drill fails with these
};

// A running journal archiver; destroying it stops it (what was committed stays).
class Journal {
 public:
  virtual ~Journal() = default;
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual Capabilities capabilities() const = 0;
  // Streams a consistent copy of every shard of the cluster into `writer`. On error nothing is
  // committed (the caller aborts the writer); messages name the shard and host.
  virtual absl::StatusOr<BackupResult> Backup(const BackupRequest& request) = 0;
  // Loads the backup into the target cluster's servers, shard by shard.
  [[nodiscard]] virtual absl::Status Restore(const RestoreRequest& request) = 0;
  // Starts archiving the cluster's journal continuously into the repository, or nullptr when the
  // engine (or the cluster's configuration) has none.
  virtual std::unique_ptr<Journal> StartJournal(const JournalOptions& options) { return nullptr; }
  // Per shard, the journal position from which journal pieces belong to the backup `manifest`
  // (its start); empty for engines without a continuous journal.
  virtual std::map<std::string, uint64_t> JournalStarts(const repo::Manifest& manifest) {
    return {};
  }
  // The cluster's journal pieces in the repository, to rebuild journal accounting from the
  // repository alone (ops/reconcile.h); none for engines without a continuous journal.
  virtual absl::StatusOr<std::vector<JournalPiece>> ListJournal(repo::JournalStore* journal,
                                                                const std::string& cluster_id) {
    return std::vector<JournalPiece>{};
  }
  // Deletes the cluster's journal pieces that end at or before `keep_from[shard]` (no backup
  // needs them any more); with `keep_from` empty (no backup left), all of them.
  [[nodiscard]] virtual absl::Status PruneJournal(
      repo::JournalStore* journal, const std::string& cluster_id,
      const std::map<std::string, uint64_t>& keep_from) {
    return absl::OkStatus();
  }
  // For each backup of `manifests` (backups of `cluster_id`), how far the archived journal
  // carries a restore of it to a point in time: nullopt for a backup whose journal reaches no
  // point past its own, and for engines without a continuous journal. The same rule the
  // driver's Restore applies, so that a time inside the reach is one Restore accepts.
  virtual absl::StatusOr<std::vector<std::optional<JournalReach>>> JournalReaches(
      repo::JournalStore* journal, const std::string& cluster_id,
      const std::vector<const repo::Manifest*>& manifests) {
    return std::vector<std::optional<JournalReach>>(manifests.size());
  }
  // Pre-flight: whether the cluster's servers are reachable and allow what Backup and the
  // journal (or, for a restore target, Restore) need, in about a second, without changing
  // anything. A failed item names the missing privilege or setting and the line that fixes it.
  // Engines without checks return nothing (the backup itself then finds out).
  virtual std::vector<CheckItem> Check(const common::ClusterConfig& cluster,
                                       const std::atomic<bool>* cancelled) {
    return {};
  }
  // What the service leaves on the cluster's servers once it stops protecting it (removed from
  // the config), each with the command that removes it: Greenplum's replication slots, which
  // keep WAL on the database host until dropped. Logged as warnings at reload.
  virtual std::vector<std::string> LeftOnServers(const common::ClusterConfig& cluster) {
    return {};
  }
  // Restore drills (optional). Starts throwaway servers to restore the backup into
  // (Unimplemented: the engine has no `local` drills; a declared scratch cluster still works).
  virtual absl::StatusOr<std::unique_ptr<Scratch>> PrepareScratch(const ScratchRequest& request) {
    return absl::UnimplementedError("this engine has no throwaway servers for drills");
  }
  // Removes everything from a cluster declared `scratch: true` so that a drill can restore into
  // it (Unimplemented: drill this engine `local`).
  [[nodiscard]] virtual absl::Status EmptyScratch(const common::ClusterConfig& scratch,
                                                  const std::atomic<bool>* cancelled) {
    return absl::UnimplementedError("this engine cannot empty a scratch cluster");
  }
  // After a drill's Restore: the restored data checked against what the backup recorded.
  // Without facts to compare, the Restore's own success is all there is (checked says so).
  virtual absl::StatusOr<VerifyResult> VerifyRestored(const VerifyRequest& request) {
    return VerifyResult{.checked = {"the restore completed"}, .problems = {}};
  }
  // Moves what an older version of the driver stored in another form into today's (run at each
  // start, before anything reads the repository; `backup_ids` is the repository's listing).
  // An object it cannot move is a problem reported, never a reason not to start; an error is
  // for a repository it cannot use at all.
  virtual absl::StatusOr<UpgradeReport> UpgradeRepository(
      repo::Repository* repository, const std::vector<std::string>& backup_ids) {
    return UpgradeReport{};
  }
};

// One row of the engine table: what everyone may know of the engine (common/engines.h) and how
// to make its driver.
struct EngineModule {
  common::EngineInfo info;
  std::function<std::unique_ptr<Driver>()> make_driver;
};

}  // namespace mdb::engine
