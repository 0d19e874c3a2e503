// The service's metrics, in Prometheus' text format (docs/monitoring.md lists them). Reported
// where things happen (an API call ends, a backup commits, a WAL segment is archived, a GC
// finishes) and only copied at a scrape: a scrape queries no catalog and no repository, so it
// stays cheap with many clusters and never waits on them.
//
// Labels are bounded: engine, cluster (declared clusters; ForgetCluster drops a removed one's),
// shard, rpc (the served methods), code (canonical status names), kind. Never a backup or an
// operation id.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace mdb::metrics {

struct BackupFigures {
  std::string engine, cluster;
  std::string method;  // BASE or INCREMENTAL
  absl::Time started, completed;
  int64_t logical_bytes = 0, stored_bytes = 0, added_bytes = 0;
};

struct RepositoryFigures {
  uint64_t stored_bytes = 0, logical_bytes = 0, journal_bytes = 0;
  uint64_t packs = 0, chunks = 0;
  uint64_t reclaimable_bytes = 0;  // dead chunks in packs that still hold live ones
};

class Metrics {
 public:
  // The process's metrics. Process-wide like the log: every layer reports where its events
  // happen, and the REST listener serves them; tests read them through Text().
  static Metrics& Get();
  Metrics();
  ~Metrics();

  // One API call of `rpc` ("yandex.cloud.mdb.redis.v1.BackupService/Get") that ended with
  // `code` after `seconds`.
  void ApiCall(const std::string& rpc, absl::StatusCode code, double seconds);

  // A backup committed: the cluster's last success (per method), its duration and sizes, and
  // the newest point the cluster can be restored to.
  void BackupSucceeded(const BackupFigures& b);
  // The same figures for a backup completed before this process started (from the catalog, at
  // start and reload): the gauges only, nothing counted.
  void BackupKnown(const BackupFigures& b);
  // A backup that ended without one (its status code names the reason: UNAVAILABLE for a
  // server down, FAILED_PRECONDITION for a missing privilege, CANCELLED...).
  void BackupFailed(const std::string& engine, const std::string& cluster, absl::StatusCode code);
  // A restore into `target` ended with `code` (OK included).
  void RestoreEnded(const std::string& engine, const std::string& target, absl::StatusCode code);
  // A restore drill of one of the cluster's backups ended at `at`: counted by result, and the
  // cluster's last passed drill when it passed. `counted` false: a drill recorded before this
  // process started (from the catalog): the gauge only.
  void DrillEnded(const std::string& engine, const std::string& cluster, bool passed, absl::Time at,
                  bool counted = true);
  // Operations running on this instance, by kind (backup, restore, delete).
  void OperationStarted(const std::string& kind);
  void OperationEnded(const std::string& kind);
  // A journal piece (WAL segment) of the cluster's shard committed to the repository at `at`.
  // For engines restoring to a point in time, the restorable window reaches the oldest of its
  // `shards` shards' newest pieces (every segment must reach a point), once each has one.
  void JournalPiece(const std::string& engine, const std::string& cluster, const std::string& shard,
                    size_t shards, absl::Time at, uint64_t stored_bytes);
  // The repository as the last GC found it, and whether it answered.
  void Repository(const RepositoryFigures& r, absl::Time at);
  void RepositoryReachable(bool up);
  // A GC's outcome: DATA_LOSS is a damaged repository that answered, not one that is down.
  void RepositoryGcEnded(absl::StatusCode code);
  // A cluster the service is to protect (declared, not a restore target): with no backup yet,
  // alerts see it as unprotected.
  void ClusterDeclared(const std::string& engine, const std::string& cluster);
  // The clusters of the config (restore targets included): events of any other cluster (a late
  // one of a cluster removed at reload) make no series. Until called, every cluster counts.
  void KnownClusters(const std::set<std::string>& ids);
  // Drops every series of a cluster no longer declared.
  void ForgetCluster(const std::string& cluster);

  // Everything, in the Prometheus text exposition format (version 0.0.4).
  std::string Text() const;

 private:
  struct Families;
  std::unique_ptr<Families> f_;
};

}  // namespace mdb::metrics
