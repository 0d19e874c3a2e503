// The Backup API, independent of transport: gRPC services and REST routes both call Api::Call
// with the method's descriptor, so both answer every RPC identically.
#pragma once

#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "api/auth.h"
#include "api/backup_cache.h"
#include "api/spliced.h"
#include "catalog/catalog.h"
#include "common/config.h"
#include "common/engines.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "ops/automated.h"
#include "ops/backup_jobs.h"
#include "ops/operation_runner.h"

namespace mdb::api {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

// The public services served: BackupService and ClusterService of each engine of `engines`,
// yandex.cloud.operation.OperationService, and the service's own mdb_backup.v1.RecoveryService.
std::vector<const ServiceDescriptor*> PublicServices(const common::EngineTable& engines);

// Who is calling, as the transport saw it.
struct Caller {
  std::string_view authorization;  // the raw "Bearer <token>" value
  std::string_view address;        // the client's IP address (no port); empty when unknown
  // Set by a transport that sends the response as it serializes it and reads none of its fields
  // (gRPC): a List then hands its backups over here, as bytes, for the transport to write after
  // the response (spliced.h).
  SplicedField* spliced = nullptr;
};

// Thread-safe.
class Api {
 public:
  // `jobs` runs backups, restores and deletes; it may be null in tests of the read paths.
  // `engines` outlives the Api.
  Api(catalog::Catalog* catalog, ops::OperationRunner* runner, ops::BackupJobs* jobs,
      std::shared_ptr<const common::Config> config, const common::EngineTable& engines);

  // Replaces clusters and tokens (SIGHUP). Calls in flight finish with the snapshot they began
  // with.
  void Reload(std::shared_ptr<const common::Config> config);

  // Runs one RPC: authenticates the caller (throttling addresses that present wrong tokens),
  // validates `request` against the contract's annotations, and dispatches on `method`.
  // `response` is of the method's output type. Errors carry the canonical code for the transport
  // to map.
  absl::Status Call(const MethodDescriptor* method, const Caller& caller, const Message& request,
                    Message* response);

  // Whether Call answers `method` (else it is UNIMPLEMENTED).
  bool Serves(const MethodDescriptor* method) const { return routes_.count(method) > 0; }
  const common::EngineTable& engines() const { return engines_; }

  // Authentication alone, from the header: transports call it before reading a request body, so
  // that nothing of an unauthenticated request reaches memory beyond its headers.
  absl::Status Admit(const Caller& caller);

  // The service's metrics in Prometheus' text format (GET /metrics), for a token that reads every
  // folder (they span them all); PERMISSION_DENIED for others.
  absl::StatusOr<std::string> MetricsText(const Caller& caller);

  // Readiness for a load balancer (GET /readyz, no token): OK while the catalog answers, else
  // why not. Probed at most once a second whatever the request rate.
  absl::Status Ready();

  // What a backup Operation of `cluster` looks like to clients (ClusterService.Backup's metadata
  // and response types of its engine): for backups the API does not start itself, the daily
  // AUTOMATED ones (ops/automated.h).
  absl::StatusOr<ops::BackupOperationShape> DescribeBackup(const common::ClusterConfig& cluster,
                                                           const std::string& backup_id);

 private:
  std::mutex ready_mu_;  // held while probing
  absl::Time ready_checked_ = absl::InfinitePast();
  absl::Status ready_;
  std::string ready_logged_;    // the last failure logged ("" when ready)
  std::mutex ready_cached_mu_;  // the last result, for calls made while a probe runs
  absl::Status ready_cached_ = absl::UnavailableError("the catalog has not been probed yet");

  struct Snapshot {
    explicit Snapshot(std::shared_ptr<const common::Config> c)
        : config(std::move(c)), auth(*config) {}
    std::shared_ptr<const common::Config> config;
    Authenticator auth;
  };
  // Everything a handler needs about one call.
  struct Ctx {
    const Snapshot& snap;
    const Principal& who;
    catalog::Engine engine;
    const MethodDescriptor* method;
    SplicedField* spliced;  // Caller::spliced
  };
  using Handler = absl::Status (Api::*)(const Ctx&, const Message&, Message*);
  struct Route {
    Handler handler;
    catalog::Engine engine;
    std::string rpc;  // "yandex.cloud.mdb.redis.v1.BackupService/Get": the metrics' label
  };

  std::shared_ptr<const Snapshot> snapshot() const;
  absl::StatusOr<Principal> Authenticate(const Snapshot& snap, const Caller& caller);

  absl::Status GetBackup(const Ctx& c, const Message& req, Message* resp);
  absl::Status ListFolderBackups(const Ctx& c, const Message& req, Message* resp);
  absl::Status ListClusterBackups(const Ctx& c, const Message& req, Message* resp);
  absl::Status DeleteBackup(const Ctx& c, const Message& req, Message* resp);
  absl::Status BackupCluster(const Ctx& c, const Message& req, Message* resp);
  absl::Status RestoreCluster(const Ctx& c, const Message& req, Message* resp);
  absl::Status GetCluster(const Ctx& c, const Message& req, Message* resp);  // clusters.cc
  absl::Status ListClusters(const Ctx& c, const Message& req, Message* resp);
  absl::Status ListClusterOperations(const Ctx& c, const Message& req, Message* resp);
  absl::Status GetRecoveryWindow(const Ctx& c, const Message& req, Message* resp);  // recovery.cc
  absl::Status DrillBackup(const Ctx& c, const Message& req, Message* resp);
  absl::Status ListVerifications(const Ctx& c, const Message& req, Message* resp);
  absl::Status GetOperation(const Ctx& c, const Message& req, Message* resp);
  absl::Status CancelOperation(const Ctx& c, const Message& req, Message* resp);

  // Sets the progress of `op` from this process's runner while it runs here.
  void WithLiveProgress(ops::Operation* op);
  // A readable backup of the call's engine, or NotFound exactly as for a missing one.
  absl::StatusOr<catalog::BackupRecord> FindBackup(const Ctx& c, const std::string& id);
  // A readable cluster of the call's engine, or NotFound.
  absl::StatusOr<const common::ClusterConfig*> FindCluster(const Ctx& c, const std::string& id);
  absl::Status List(const Ctx& c, catalog::ListQuery query, Message* resp);  // listing.cc
  // Queues `task` as an operation of `c.method`, with its metadata and response types, for
  // whichever instance claims it.
  absl::Status StartOperation(const Ctx& c, const std::string& description,
                              const std::string& folder_id, const std::string& cluster_id,
                              const std::string& backup_id,
                              const ::mdb_backup::v1::OperationTask& task, Message* resp);

  const common::EngineTable& engines_;
  catalog::Catalog* catalog_;
  ops::OperationRunner* runner_;
  ops::BackupJobs* jobs_;
  std::unordered_map<const MethodDescriptor*, Route> routes_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  FailedAuthThrottle throttle_;
  BackupMessageCache listed_;  // backups as List showed them
  ListedPages pages_;          // and whole pages of them
};

}  // namespace mdb::api
