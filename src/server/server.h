// Wiring of mdb-backupd: config -> catalog -> operations -> API -> gRPC and REST transports.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "api/api.h"
#include "api/grpc/grpc_services.h"
#include "api/rest/rest_server.h"
#include "catalog/catalog.h"
#include "common/periodic.h"
#include "engine/all.h"
#include "grpcpp/server.h"
#include "ops/automated.h"
#include "ops/drill_schedule.h"
#include "ops/gc_loop.h"
#include "ops/jobs.h"
#include "ops/journal_archivers.h"
#include "ops/leases.h"
#include "ops/operation_runner.h"
#include "ops/scheduler.h"
#include "ops/tasks.h"
#include "repo/repository.h"
#include "storage/storage.h"

namespace mdb::server {

class Server {
 public:
  // Loads the config at `config_path` and opens everything; serves nothing yet. `engines` (the
  // built-in ones, or more in tests) outlives the server.
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      const std::string& config_path,
      const engine::EngineRegistry& engines = engine::BuiltInEngines());
  // Loads and checks the config at `config_path`, TLS files included (mdb-backupd --check).
  static absl::StatusOr<common::Config> CheckConfig(const std::string& config_path,
                                                    const common::EngineTable& engines);
  // Logs a warning per listener served in plaintext beyond loopback (allow_plaintext: true).
  static void WarnPlaintext(const common::Config& cfg);
  ~Server();

  // Starts both listeners. The bound addresses are then in grpc_address() / rest_address().
  absl::Status Start();
  // Re-reads the config file; on error keeps the running config and returns the error.
  absl::Status Reload();
  // Stops accepting calls, lets running operations end, closes the catalog.
  void Shutdown();

  std::string grpc_address() const { return grpc_address_; }
  std::string rest_address() const { return rest_address_; }

 private:
  Server() = default;

  const engine::EngineRegistry* engines_ = nullptr;
  std::string config_path_;
  std::shared_ptr<const common::Config> config_;
  std::unique_ptr<catalog::ExclusiveUse> exclusive_;  // released last
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<ops::Leases> leases_;  // over catalog_
  std::unique_ptr<storage::Storage> storage_;
  std::unique_ptr<repo::Repository> repository_;
  std::unique_ptr<ops::Jobs> jobs_;
  std::unique_ptr<ops::JournalArchivers> archivers_;  // report to jobs_' keeper: after it
  std::unique_ptr<ops::Tasks> tasks_;                 // runner_'s workers run them: before it
  std::unique_ptr<ops::OperationRunner> runner_;
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<ops::AutomatedBackups> automated_;
  std::unique_ptr<api::grpc_transport::GrpcServices> grpc_services_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<api::rest::RestServer> rest_server_;
  ops::SystemClock clock_;
  std::thread gc_thread_;
  std::unique_ptr<ops::GcLoop> gc_loop_;
  std::unique_ptr<ops::Scheduler> scheduler_;
  common::Periodic journal_ticker_;  // renews journal leases, takes over those of dead instances
  std::unique_ptr<ops::DrillSchedule> drill_schedule_;
  common::Periodic drill_ticker_;  // queues the drills that are due
  mutable std::mutex config_mu_;   // config_ is replaced on reload while the scheduler reads it
  std::string grpc_address_, rest_address_;
};

}  // namespace mdb::server
