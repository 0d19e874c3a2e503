// Start order matters: interrupted operations are failed before any listener opens, so no client
// can observe an operation that no process will ever finish.
#include "server/server.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "ops/reconcile.h"

namespace mdb::server {

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const std::string& config_path) {
  std::unique_ptr<Server> s(new Server);
  s->config_path_ = config_path;
  ASSIGN_OR_RETURN(common::Config cfg, common::LoadConfig(config_path));
  s->config_ = std::make_shared<const common::Config>(std::move(cfg));
  // Before anything else touches the catalog: a second process on it would mark the first
  // one's running operations ABORTED at start (docs/security.md).
  ASSIGN_OR_RETURN(s->instance_lock_, common::InstanceLock::Acquire(
                                          absl::StrCat(s->config_->server.catalog_path, ".lock")));
  ASSIGN_OR_RETURN(s->catalog_, catalog::OpenSqliteCatalog(s->config_->server.catalog_path));
  // The repository: opened, or created on first start (the embedded default is a directory
  // beside the config file).
  ASSIGN_OR_RETURN(s->storage_, storage::OpenStorage(s->config_->server.repository));
  std::optional<std::string> key;
  if (!s->config_->server.repository_key_file.empty()) {
    ASSIGN_OR_RETURN(key, repo::ReadKeyFile(s->config_->server.repository_key_file));
  }
  if (!s->storage_->Stat("config").ok()) {
    repo::InitOptions init;
    init.key = key;
    RETURN_IF_ERROR(repo::Repository::Init(s->storage_.get(), init).status());
  }
  ASSIGN_OR_RETURN(s->repository_, repo::Repository::Open(s->storage_.get(), {.key = key}));
  s->jobs_ = std::make_unique<ops::Jobs>(s->catalog_.get(), s->repository_.get());
  // Wired before any listener opens: operations may call back into it from then on.
  s->gc_loop_ = std::make_unique<ops::GcLoop>(
      &s->clock_, [repo = s->repository_.get()] { return repo->Gc().status(); },
      [](const std::string& line) { fprintf(stderr, "mdb-backupd: %s\n", line.c_str()); },
      ops::GcLoop::Options{.interval = absl::Minutes(s->config_->server.gc_interval_minutes)});
  s->jobs_->set_on_gc_failed([loop = s->gc_loop_.get()] { loop->Failed(); });
  s->runner_ =
      std::make_unique<ops::OperationRunner>(s->catalog_.get(), s->config_->server.worker_threads);
  // The catalog indexes the repository: a backup committed just before a crash (manifest
  // written, catalog row not yet) is listed now rather than left an orphan.
  ASSIGN_OR_RETURN(ops::ReconcileReport reconciled,
                   ops::Reconcile(s->catalog_.get(), s->repository_.get(), s->config_->clusters));
  auto log_each = [](const std::vector<std::string>& items, const char* what) {
    for (const auto& item : items) fprintf(stderr, "mdb-backupd: %s: %s\n", what, item.c_str());
  };
  log_each(reconciled.added, "committed but not in the catalog, now listed");
  log_each(reconciled.unrecorded, "repository object without a service record, not listed");
  log_each(reconciled.unreadable, "unreadable repository object (run mdb-backup repo verify)");
  log_each(reconciled.missing, "in the catalog but not in the repository");
  ASSIGN_OR_RETURN(int interrupted, s->runner_->FailInterrupted());
  if (interrupted > 0) {
    // Work cut short by the previous process left packs no manifest uses: collect them now, in
    // the background (GC waits for nothing and refuses to run beside a live backup).
    s->gc_thread_ = std::thread([repo = s->repository_.get(), interrupted] {
      auto report = repo->Gc();
      if (report.ok()) {
        fprintf(stderr, "mdb-backupd: %d interrupted operation(s) failed; GC freed %lld bytes\n",
                interrupted, static_cast<long long>(report->bytes_freed));
      } else {
        fprintf(stderr, "mdb-backupd: GC after interrupted operations: %s\n",
                std::string(report.status().message()).c_str());
      }
    });
  }
  s->api_ =
      std::make_unique<api::Api>(s->catalog_.get(), s->runner_.get(), s->jobs_.get(), s->config_);
  return s;
}

Server::~Server() { Shutdown(); }

absl::Status Server::Start() {
  grpc_services_ = std::make_unique<api::grpc_transport::GrpcServices>(api_.get());
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  const std::string& listen = config_->server.grpc_listen;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &grpc_port);
  // gRPC sets SO_REUSEPORT by default: a second mdb-backupd on the same config would share the
  // port and clients would see each process's operations in turn.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Requests of the Backup API are small; a client's 100 MB message is refused before it is read.
  builder.SetMaxReceiveMessageSize(4 << 20);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 64);
  grpc_services_->RegisterAll(&builder);
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_ || grpc_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on '", listen, "': is the port already in use?"));
  }
  grpc_address_ = absl::StrCat(listen.substr(0, listen.rfind(':')), ":", grpc_port);

  ASSIGN_OR_RETURN(auto router, api::rest::Router::Build(api::PublicServices()));
  rest_server_ = std::make_unique<api::rest::RestServer>(api_.get(), std::move(router));
  const std::string& rest = config_->server.rest_listen;
  RETURN_IF_ERROR(rest_server_->Start(rest));
  rest_address_ = absl::StrCat(rest.substr(0, rest.rfind(':')), ":", rest_server_->port());

  jobs_->ApplyJournals(*config_);  // continuous journals (WAL) of the clusters that have one
  gc_loop_->Start();
  if (config_->server.automated_backups) {
    scheduler_ = std::make_unique<ops::Scheduler>(
        &clock_,
        [this] {
          std::lock_guard<std::mutex> lock(config_mu_);
          return config_;
        },
        [this](const std::string& cluster_id) {
          std::lock_guard<std::mutex> lock(config_mu_);
          const common::ClusterConfig* c = config_->FindCluster(cluster_id);
          return c ? jobs_->LastAutomated(*c) : absl::InfinitePast();
        },
        [this](const common::ClusterConfig& cluster) {
          auto op = api_->StartAutomatedBackup(cluster);
          if (absl::IsUnimplemented(op.status())) return true;  // engine not built: nothing to do
          if (!op.ok()) {
            fprintf(stderr, "mdb-backupd: automated backup of '%s' not started: %s\n",
                    cluster.id.c_str(), std::string(op.status().message()).c_str());
            return false;
          }
          fprintf(stderr, "mdb-backupd: automated backup of '%s' started (operation %s)\n",
                  cluster.id.c_str(), op->id().c_str());
          return true;
        },
        ops::Scheduler::Options{});
    scheduler_->Start();
  }
  return absl::OkStatus();
}

absl::Status Server::Reload() {
  ASSIGN_OR_RETURN(common::Config cfg, common::LoadConfig(config_path_));
  if (cfg.server.catalog_path != config_->server.catalog_path ||
      cfg.server.grpc_listen != config_->server.grpc_listen ||
      cfg.server.rest_listen != config_->server.rest_listen ||
      cfg.server.repository != config_->server.repository) {
    return absl::FailedPreconditionError(
        absl::StrCat(config_path_,
                     ": listen addresses, the catalog and the repository cannot change on reload; "
                     "restart mdb-backupd to apply them"));
  }
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    config_ = std::make_shared<const common::Config>(std::move(cfg));
  }
  api_->Reload(config_);
  jobs_->ApplyJournals(*config_);
  return absl::OkStatus();
}

void Server::Shutdown() {
  if (gc_thread_.joinable()) gc_thread_.join();
  if (gc_loop_) gc_loop_->Stop();
  if (scheduler_) scheduler_->Stop();
  if (jobs_) jobs_->StopJournals();
  if (rest_server_) rest_server_->Stop();
  if (grpc_server_)
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (runner_) runner_->WaitIdle();
  grpc_server_.reset();
  rest_server_.reset();
}

}  // namespace mdb::server
