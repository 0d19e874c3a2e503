// Start order matters: interrupted operations are failed before any listener opens, so no client
// can observe an operation that no process will ever finish.
#include "server/server.h"

#include <sys/resource.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/status.h"
#include "common/time_util.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/server_builder.h"
#include "metrics/metrics.h"
#include "ops/reconcile.h"
#include "ops/tasks.h"
#include "server/tls_staging.h"

namespace mdb::server {
namespace {

// gRPC re-reads its copies of the TLS files (tls_staging.h) this often, so a certificate replaced
// by SIGHUP reaches gRPC's new handshakes within this time, REST's at once. Either way open
// connections keep the certificate they began with.
constexpr unsigned kGrpcTlsRefreshSeconds = 5;
constexpr int kGrpcMaxMessageBytes = 64 << 10;

// Where gRPC's copies of the TLS files live (tls_staging.h): beside the catalog, as private.
// Beside the catalog file; beside the config file when the catalog is a PostgreSQL database.
std::string TlsStagingDir(const common::Config& cfg) {
  return (catalog::IsPostgresLocation(cfg.server.catalog_path) ? cfg.path
                                                               : cfg.server.catalog_path) +
         ".tls";
}

std::shared_ptr<grpc::ServerCredentials> GrpcCredentials(const common::TlsConfig& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  namespace exp = grpc::experimental;
  auto provider = std::make_shared<exp::FileWatcherCertificateProvider>(
      tls.key_file, tls.cert_file, tls.client_ca_file, kGrpcTlsRefreshSeconds);
  exp::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return exp::TlsServerCredentials(options);
}

api::rest::HttpLimits RestLimits(const common::LimitsConfig& l) {
  return {.header_timeout = absl::Seconds(l.header_timeout_seconds),
          .request_timeout = absl::Seconds(l.request_timeout_seconds),
          .idle_timeout = absl::Seconds(l.idle_timeout_seconds),
          .max_body_bytes = static_cast<size_t>(l.max_request_bytes),
          .max_connections = l.max_connections,
          .max_connections_per_client = l.max_connections_per_address};
}

// The gauges of backups completed before this process started, from the catalog: each
// declared cluster's newest backup of each method (the newest overall last, whose duration and
// sizes stand). A cluster whose catalog read fails keeps its gauges absent; the next backup
// sets them.
void ReportKnownBackups(catalog::Catalog* catalog, const common::Config& config,
                        const common::EngineTable& engines) {
  std::set<std::string> ids;
  for (const auto& cluster : config.clusters) ids.insert(cluster.id);
  metrics::Metrics::Get().KnownClusters(ids);
  for (const auto& cluster : config.clusters) {
    if (cluster.restore_target) continue;
    metrics::Metrics::Get().ClusterDeclared(std::string(engines.Name(cluster.engine)), cluster.id);
    catalog::ListQuery q{.engine = cluster.engine, .folder_id = cluster.folder_id};  // as the API
    q.cluster_id = cluster.id;
    auto page = catalog->ListBackups(q);
    if (!page.ok()) continue;
    std::vector<const catalog::BackupRecord*> newest;  // per method, oldest first
    for (const auto& b : page->backups) {
      bool seen = false;
      for (const auto* n : newest) seen |= n->method() == b.method();
      if (!seen) newest.insert(newest.begin(), &b);
    }
    for (const auto* b : newest) {
      metrics::Metrics::Get().BackupKnown(
          ops::FiguresOf(*b, std::string(engines.Name(cluster.engine))));
    }
    // The newest passed drill among these backups (older ones' drills are older still, mostly).
    absl::Time verified = absl::InfinitePast();
    for (const auto& b : page->backups) {
      if (b.verification().ok()) {
        verified = std::max(verified, common::FromProto(b.verification().verified_at()));
      }
    }
    if (verified != absl::InfinitePast()) {
      metrics::Metrics::Get().DrillEnded(std::string(engines.Name(cluster.engine)), cluster.id,
                                         true, verified, /*counted=*/false);
    }
  }
}

}  // namespace

void Server::WarnPlaintext(const common::Config& cfg) {
  for (const std::string* l : {&cfg.server.grpc_listen, &cfg.server.rest_listen}) {
    if (!cfg.server.tls.enabled() && !common::IsLoopbackListen(*l)) {
      common::Log(common::LogLevel::kWarning, "server",
                  absl::StrFormat("'%s' is served in plaintext on a non-loopback address "
                                  "(allow_plaintext): tokens cross the network in clear text",
                                  l->c_str()));
    }
  }
}

absl::StatusOr<common::Config> Server::CheckConfig(const std::string& config_path,
                                                   const common::EngineTable& engines) {
  ASSIGN_OR_RETURN(common::Config cfg, common::LoadConfig(config_path, engines));
  // gRPC's file watcher would only log unreadable files, and serve no TLS handshake: read them
  // here so that a broken file stops the start (and --check) with its name.
  if (cfg.server.tls.enabled()) RETURN_IF_ERROR(api::rest::CheckTlsFiles(cfg.server.tls));
  return cfg;
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const std::string& config_path,
                                                       const engine::EngineRegistry& engines) {
  std::unique_ptr<Server> s(new Server);
  s->engines_ = &engines;
  s->config_path_ = config_path;
  ASSIGN_OR_RETURN(common::Config cfg, CheckConfig(config_path, engines.table()));
  s->config_ = std::make_shared<const common::Config>(std::move(cfg));
  common::SetLogFormat(s->config_->server.log);
  ASSIGN_OR_RETURN(s->catalog_, catalog::OpenCatalog(s->config_->server.catalog_path));
  // SQLite: one instance, so before anything else changes the catalog it makes sure it is the
  // only one (docs/security.md). PostgreSQL: any number; operations, journals, GC and the daily
  // backups are shared out through leases (docs/deployment.md).
  const bool shared = catalog::IsPostgresLocation(s->config_->server.catalog_path);
  if (shared) {
    // Beside other instances, never beside a catalog rebuild (or an older mdb-backupd alone).
    ASSIGN_OR_RETURN(s->exclusive_, s->catalog_->AcquireSharedUse());
  } else {
    ASSIGN_OR_RETURN(s->exclusive_, s->catalog_->AcquireExclusiveUse());
  }
  const std::string instance = ops::NewInstanceName();
  const absl::Duration lease = absl::Seconds(s->config_->server.lease_seconds);
  // Alone on SQLite, this process continues the previous one's leases (GC's turn, the day's
  // backups) under a fixed name; shared, each instance holds its own.
  s->leases_ =
      std::make_unique<ops::Leases>(s->catalog_.get(), shared ? instance : "sqlite", &s->clock_);
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
  s->jobs_ = std::make_unique<ops::Jobs>(s->catalog_.get(), s->repository_.get(), engines);
  // Wired before any listener opens: operations may call back into it from then on.
  // One instance at a time collects (the repository's own gc lock makes that safe anyway); the
  // turn stays with it for an interval, so N instances do not collect N times as often.
  const absl::Duration gc_interval = absl::Minutes(s->config_->server.gc_interval_minutes);
  s->gc_loop_ = std::make_unique<ops::GcLoop>(
      &s->clock_,
      [jobs = s->jobs_.get(), leases = s->leases_.get(), gc_interval] {
        ASSIGN_OR_RETURN(bool mine, leases->Hold("gc", gc_interval));  // error: retried
        if (!mine) return absl::OkStatus();                            // another's turn
        return jobs->Gc().status();  // its figures and outcome in the metrics too
      },
      [](const std::string& line) { common::Log(common::LogLevel::kInfo, "ops", line); },
      ops::GcLoop::Options{.interval = gc_interval});
  s->jobs_->set_on_gc_failed([loop = s->gc_loop_.get()] { loop->Failed(); });
  s->archivers_ = std::make_unique<ops::JournalArchivers>(
      s->repository_.get(), engines, &s->jobs_->journal(),
      [](const std::string& line) { common::Log(common::LogLevel::kInfo, "ops", line); });
  s->jobs_->set_claims({.claim =
                            [leases = s->leases_.get(), lease](const std::string& cluster_id) {
                              return leases->Hold("backup/" + cluster_id, lease);
                            },
                        .release =
                            [leases = s->leases_.get()](const std::string& cluster_id) {
                              (void)leases->Release("backup/" + cluster_id);
                            }});
  s->archivers_->set_owns([leases = s->leases_.get(), lease](const std::string& cluster_id) {
    auto held = leases->Hold("journal/" + cluster_id, lease);
    return held.ok() && *held;  // the catalog away: stop archiving, another may take over
  });
  s->tasks_ = std::make_unique<ops::Tasks>(
      s->catalog_.get(), s->jobs_.get(),
      [server = s.get()](const std::string& id) -> std::optional<common::ClusterConfig> {
        std::lock_guard<std::mutex> lock(server->config_mu_);
        const common::ClusterConfig* c = server->config_->FindCluster(id);
        return c ? std::optional<common::ClusterConfig>(*c) : std::nullopt;
      },
      [server = s.get()] {
        std::lock_guard<std::mutex> lock(server->config_mu_);
        return server->config_->server.drills;
      },
      [server = s.get()] {
        std::lock_guard<std::mutex> lock(server->config_mu_);
        return server->config_->clusters;
      });
  // Queued operations are claimed once the server has started (Start): not beside Reconcile.
  s->runner_ = std::make_unique<ops::OperationRunner>(
      s->catalog_.get(), s->config_->server.worker_threads,
      ops::RunnerOptions{.owner = instance,
                         .lease = lease,
                         .executor = s->tasks_.get(),
                         .claim_at_start = false,
                         .on_beat = [jobs = s->jobs_.get()] { jobs->RenewClaims(); },
                         .stop_when_cut_off = shared});
  // The catalog indexes the repository: a backup committed just before a crash (manifest
  // written, catalog row not yet) is listed now rather than left an orphan.
  ASSIGN_OR_RETURN(
      ops::ReconcileReport reconciled,
      ops::Reconcile(s->catalog_.get(), s->repository_.get(), s->config_->clusters, engines));
  // The first 20 of each kind, then a count: a catalog imported without its repository (or a
  // lost bucket) would otherwise log a line per backup (1,000,000 for bench/api's catalog).
  auto log_each = [](const std::vector<std::string>& items, const char* what) {
    constexpr size_t kShown = 20;
    for (size_t i = 0; i < items.size() && i < kShown; ++i) {
      common::Log(common::LogLevel::kInfo, "server",
                  absl::StrFormat("%s: %s", what, items[i].c_str()));
    }
    if (items.size() > kShown) {
      common::Log(
          common::LogLevel::kInfo, "server",
          absl::StrFormat("%s: %zu more (%zu in all)", what, items.size() - kShown, items.size()));
    }
  };
  log_each(reconciled.upgraded, "stored in an older form, now moved to the current one");
  log_each(reconciled.added, "committed but not in the catalog, now listed");
  log_each(reconciled.unrecorded, "repository object without a service record, not listed");
  log_each(reconciled.unreadable, "unreadable repository object (run mdb-backup repo verify)");
  log_each(reconciled.missing, "in the catalog but not in the repository");
  // Alone: every unfinished operation is a previous process's. Shared: those whose owner
  // stopped renewing (the heartbeat keeps looking).
  // Shared: the heartbeat ends other instances' expired operations, once this instance has
  // reached the catalog for a whole lease (a start right after a catalog outage must not end
  // live instances' work before they could renew it).
  int interrupted = 0;
  if (!shared) {
    ASSIGN_OR_RETURN(interrupted, s->runner_->FailInterrupted(/*all=*/true));
  }
  if (interrupted > 0) {
    // Work cut short by the previous process left packs no manifest uses: collect them now, in
    // the background (GC waits for nothing and refuses to run beside a live backup).
    s->gc_thread_ = std::thread([jobs = s->jobs_.get(), interrupted] {
      auto report = jobs->Gc();  // its figures and outcome in the metrics too
      if (report.ok()) {
        common::Log(common::LogLevel::kInfo, "server",
                    absl::StrFormat("%d interrupted operation(s) failed; GC freed %lld bytes",
                                    interrupted, static_cast<long long>(report->bytes_freed)));
      } else {
        common::Log(common::LogLevel::kWarning, "server",
                    absl::StrFormat("GC after interrupted operations: %s",
                                    std::string(report.status().message()).c_str()));
      }
    });
  }
  s->api_ = std::make_unique<api::Api>(s->catalog_.get(), s->runner_.get(), s->jobs_.get(),
                                       s->config_, engines.table());
  s->automated_ = std::make_unique<ops::AutomatedBackups>(
      s->runner_.get(), s->jobs_.get(),
      [api = s->api_.get()](const common::ClusterConfig& cluster, const std::string& backup_id) {
        return api->DescribeBackup(cluster, backup_id);
      });
  return s;
}

Server::~Server() { Shutdown(); }

absl::Status Server::Start() {
  ReportKnownBackups(catalog_.get(), *config_, engines_->table());
  grpc_services_ = std::make_unique<api::grpc_transport::GrpcServices>(api_.get());
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  const std::string& listen = config_->server.grpc_listen;
  const common::LimitsConfig& limits = config_->server.limits;
  common::TlsConfig staged;  // what both listeners load (tls_staging.h)
  if (config_->server.tls.enabled()) {
    ASSIGN_OR_RETURN(staged, StageTlsFiles(config_->server.tls, TlsStagingDir(*config_),
                                           api::rest::CheckTlsFiles));
  } else {
    RemoveStagedTlsFiles(TlsStagingDir(*config_));
  }
  builder.AddListeningPort(listen, GrpcCredentials(staged), &grpc_port);
  // gRPC sets SO_REUSEPORT by default: a second mdb-backupd on the same config would share the
  // port and clients would see each process's operations in turn.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // gRPC's synchronous server reads a whole request message before any handler (and so the
  // token check) runs: what an unauthenticated client can make it hold is bounded here. Requests
  // of the Backup API are a few KiB (a restore with 64 labels is the largest), so messages are
  // capped at 64 KiB (or max_request_bytes if smaller), 16 streams per connection, and all of
  // gRPC's buffers share a 256 MiB memory quota (past it, gRPC refuses new reads rather than
  // growing).
  builder.SetMaxReceiveMessageSize(std::min(limits.max_request_bytes, kGrpcMaxMessageBytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 16);
  // A connection without calls is closed (GOAWAY; clients reconnect when they next call), and a
  // silent peer is found by pings: neither holds a connection for ever. Clients may not ping
  // more often than every 5 minutes without calls (gRPC's default policy, said here on purpose).
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, limits.idle_timeout_seconds * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 300 * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  // The synchronous server's threads are bounded: past them, gRPC answers RESOURCE_EXHAUSTED
  // ("Server Threadpool Exhausted") rather than each connection costing a thread.
  grpc::ResourceQuota quota("mdb-backupd-grpc");
  quota.SetMaxThreads(64);
  quota.Resize(256 << 20);
  builder.SetResourceQuota(quota);
  WarnPlaintext(*config_);
  if (struct rlimit nofile; getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
                            nofile.rlim_cur < static_cast<rlim_t>(limits.max_connections) + 256) {
    common::Log(common::LogLevel::kWarning, "server",
                absl::StrFormat(
                    "%llu open files allowed (RLIMIT_NOFILE) is below limits.max_connections + "
                    "256: raise LimitNOFILE, or connections will be refused before the caps apply",
                    static_cast<unsigned long long>(nofile.rlim_cur)));
  }
  grpc_services_->RegisterAll(&builder);
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_ || grpc_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on '", listen, "': is the port already in use?"));
  }
  grpc_address_ = absl::StrCat(listen.substr(0, listen.rfind(':')), ":", grpc_port);

  ASSIGN_OR_RETURN(auto router, api::rest::Router::Build(api::PublicServices(engines_->table())));
  rest_server_ =
      std::make_unique<api::rest::RestServer>(api_.get(), std::move(router), RestLimits(limits));
  const std::string& rest = config_->server.rest_listen;
  RETURN_IF_ERROR(rest_server_->Start(rest, staged));
  rest_address_ = absl::StrCat(rest.substr(0, rest.rfind(':')), ":", rest_server_->port());

  runner_->StartClaiming();     // operations queued by any instance, or before a restart
  archivers_->Apply(*config_);  // continuous journals (WAL) of the clusters that have one
  journal_ticker_.Start(absl::Seconds(config_->server.lease_seconds) / 3, [this] {
    std::shared_ptr<const common::Config> cfg;
    {
      std::lock_guard<std::mutex> lock(config_mu_);
      cfg = config_;
    }
    archivers_->Apply(*cfg);
  });
  gc_loop_->Start();
  if (repository_) {
    drill_schedule_ =
        std::make_unique<ops::DrillSchedule>(catalog_.get(), runner_.get(), leases_.get());
    drill_ticker_.Start(absl::Seconds(10), [this] {
      std::shared_ptr<const common::Config> cfg;
      {
        std::lock_guard<std::mutex> lock(config_mu_);
        cfg = config_;
      }
      drill_schedule_->Tick(*cfg, clock_.Now());
    });
  }
  if (config_->server.automated_backups) {
    scheduler_ = std::make_unique<ops::Scheduler>(
        &clock_,
        [this] {
          std::lock_guard<std::mutex> lock(config_mu_);
          return config_;
        },
        [this](const std::string& cluster_id) -> absl::StatusOr<absl::Time> {
          std::optional<common::ClusterConfig> cluster;
          {
            std::lock_guard<std::mutex> lock(config_mu_);
            if (const common::ClusterConfig* c = config_->FindCluster(cluster_id)) cluster = *c;
          }
          // The catalog is read without the config's lock: a slow catalog must not stall reloads.
          return cluster ? jobs_->LastAutomated(*cluster) : absl::InfinitePast();
        },
        ops::OnOneInstance(
            leases_.get(),
            [this](const common::ClusterConfig& cluster, absl::Time) {
              auto op = automated_->Start(cluster);
              if (!op.ok()) {
                return ops::Scheduler::Triggered{.refused = std::string(op.status().message())};
              }
              common::Log(common::LogLevel::kInfo, "server",
                          absl::StrFormat("automated backup of '%s' started (operation %s)",
                                          cluster.id.c_str(), op->id().c_str()));
              return ops::Scheduler::Triggered{.started = true, .operation_id = op->id()};
            }),
        ops::Scheduler::Options{
            .retries = config_->server.automated_retries,
            .first_retry = absl::Seconds(config_->server.automated_retry_seconds)},
        [this](const std::string& operation_id) {
          return ops::OperationOutcome(catalog_.get(), repository_.get(), operation_id);
        });
    scheduler_->Start();
  }
  return absl::OkStatus();
}

absl::Status Server::Reload() {
  ASSIGN_OR_RETURN(common::Config cfg, CheckConfig(config_path_, engines_->table()));
  const common::ServerConfig &now = config_->server, &next = cfg.server;
  const common::LimitsConfig &l = now.limits, &n = next.limits;
  if (next.catalog_path != now.catalog_path || next.grpc_listen != now.grpc_listen ||
      next.rest_listen != now.rest_listen || next.repository != now.repository ||
      next.tls.cert_file != now.tls.cert_file || next.tls.key_file != now.tls.key_file ||
      next.tls.client_ca_file != now.tls.client_ca_file ||
      next.allow_plaintext != now.allow_plaintext || n.max_request_bytes != l.max_request_bytes ||
      n.max_connections != l.max_connections ||
      n.max_connections_per_address != l.max_connections_per_address ||
      n.header_timeout_seconds != l.header_timeout_seconds ||
      n.request_timeout_seconds != l.request_timeout_seconds ||
      n.idle_timeout_seconds != l.idle_timeout_seconds ||
      next.automated_backups != now.automated_backups ||
      next.automated_retries != now.automated_retries ||
      next.automated_retry_seconds != now.automated_retry_seconds ||
      next.worker_threads != now.worker_threads ||
      next.gc_interval_minutes != now.gc_interval_minutes ||
      next.lease_seconds != now.lease_seconds ||
      next.repository_key_file != now.repository_key_file) {
    return absl::FailedPreconditionError(absl::StrCat(
        config_path_,
        ": listen addresses, TLS file names, connection limits, worker threads, the schedule "
        "and GC switches, the catalog and the repository (and its key) cannot change on reload; "
        "restart mdb-backupd to apply them (tokens, clusters, failed_auth_* and the TLS files' "
        "contents change on reload)"));
  }
  // The new certificate first (read once, checked, then used by both listeners): a reload that
  // cannot use it changes nothing.
  if (next.tls.enabled() && rest_server_) {
    ASSIGN_OR_RETURN(common::TlsConfig staged,
                     StageTlsFiles(next.tls, TlsStagingDir(cfg), api::rest::CheckTlsFiles));
    RETURN_IF_ERROR(rest_server_->ReloadTls(staged));
  }
  // A cluster no longer declared: what the service left on its servers is the operator's to
  // remove (a replication slot keeps WAL on the database host until dropped). Its metrics go.
  std::set<std::string> ids;
  for (const auto& c : cfg.clusters) ids.insert(c.id);
  metrics::Metrics::Get().KnownClusters(ids);
  for (const auto& old : config_->clusters) {
    // Changed to a restore target, or to another engine: its series start again (seeded below).
    const common::ClusterConfig* now = cfg.FindCluster(old.id);
    if (!now || now->engine != old.engine || now->restore_target != old.restore_target ||
        now->shards.size() != old.shards.size()) {
      metrics::Metrics::Get().ForgetCluster(old.id);
    }
    if (now) continue;
    auto driver = engines_->MakeDriver(old.engine);
    if (!driver.ok()) continue;
    for (const auto& left : (*driver)->LeftOnServers(old)) {
      common::Log(common::LogLevel::kWarning, "config",
                  absl::StrCat("cluster '", old.id, "' was removed from the config: ", left));
    }
  }
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    config_ = std::make_shared<const common::Config>(std::move(cfg));
  }
  common::SetLogFormat(config_->server.log);
  api_->Reload(config_);
  ReportKnownBackups(catalog_.get(), *config_, engines_->table());
  archivers_->Apply(*config_);
  return absl::OkStatus();
}

void Server::Shutdown() {
  if (gc_thread_.joinable()) gc_thread_.join();
  if (gc_loop_) gc_loop_->Stop();
  if (scheduler_) scheduler_->Stop();
  journal_ticker_.Stop();
  drill_ticker_.Stop();
  if (archivers_) {
    archivers_->Stop();
    // Handed on at once rather than after the lease: another instance resumes archiving.
    leases_->ReleaseAll("journal/");
  }
  if (rest_server_) rest_server_->Stop();
  if (grpc_server_)
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (runner_) {
    // Queued operations wait for another instance (or the next start) rather than delay this.
    runner_->StopClaiming();
    runner_->Drain(absl::Seconds(config_->server.shutdown_grace_seconds));
    // Shared, a restarted instance has a new name: the day's windows are handed back so that it
    // catches up a backup that failed or was stopped (the catalog says whether one succeeded).
    leases_->ReleaseAll("automated/");
  }
  grpc_server_.reset();
  rest_server_.reset();
}

}  // namespace mdb::server
