// mdb-backupd: serves the Backup API over gRPC and REST. Signals are handled on the main thread
// with sigwait: SIGHUP reloads the config, SIGINT/SIGTERM shut down in order.
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/version.h"
#include "server/library_log.h"
#include "server/server.h"

namespace {

void Usage(FILE* out) {
  fprintf(out,
          "usage: mdb-backupd --config FILE [--check] [--log-format text|json]\n"
          "  --config FILE      the YAML configuration (see docs/configuration.md)\n"
          "  --check            validate the configuration and exit\n"
          "  --log-format F     log lines as text (for people) or json (for log shippers),\n"
          "                     whatever the config's server.log_format says\n"
          "  --version          print the version and exit\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Packs (16 MiB) are mmapped and given back to the kernel when freed with a fixed threshold,
  // where glibc's adaptive one would keep them in per-thread arenas; chunks (<= 4 MiB) stay in
  // the arenas, reused without page faults (bench/repo: 130 -> 8x MB RSS at the same speed).
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  // Fixing the mmap threshold also fixes the trim threshold at 128 KiB, which would hand chunk
  // buffers back to the kernel and fault them in again for every chunk: keep up to 64 MiB.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // Few arenas: every operation starts threads of its own (per shard, pipes, archive writers),
  // and glibc's default of 8 arenas per core each kept its freed chunks (bench/greenplum: 174 MB
  // after a backup, a restore and an incremental in one process).
  mallopt(M_ARENA_MAX, 2);
  // The catalog holds the page-token key and the repository holds every cluster's data: nothing
  // this process creates is for other users (restored data directories are chowned explicitly).
  umask(077);
  std::string config;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config = arg.substr(9);
    } else if (arg == "--check") {
      check = true;
    } else if ((arg == "--log-format" && i + 1 < argc) || arg.rfind("--log-format=", 0) == 0) {
      std::string format = arg == "--log-format" ? argv[++i] : arg.substr(13);
      if (format != "json" && format != "text") {
        Usage(stderr);
        return 2;
      }
      mdb::common::ForceLogFormat(format == "json");
    } else if (arg == "--help" || arg == "-h") {
      Usage(stdout);
      return 0;
    } else if (arg == "--version") {
      printf("mdb-backupd %s\n", mdb::common::kVersion);
      return 0;
    } else {
      Usage(stderr);
      return 2;
    }
  }
  if (config.empty()) {
    Usage(stderr);
    return 2;
  }
  if (check) {
    auto cfg = mdb::server::Server::CheckConfig(config, mdb::engine::BuiltInEngines().table());
    if (!cfg.ok()) {
      mdb::common::Log(mdb::common::LogLevel::kError, "server", cfg.status().message());
      return 1;
    }
    mdb::server::Server::WarnPlaintext(*cfg);
    printf("%s: OK (%zu clusters, %zu tokens)\n", config.c_str(), cfg->clusters.size(),
           cfg->tokens.size());
    return 0;
  }

  // Block the signals before any thread starts so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  mdb::server::CountLibraryLogs();

  // The connection caps (1,024 REST connections by default) assume descriptors to hold them:
  // the soft limit is raised to the hard one, as Go's runtime and nginx do (systemd's default
  // soft limit is 1,024, and select() is not used here).
  if (struct rlimit nofile;
      getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  auto server = mdb::server::Server::Create(config);
  if (!server.ok()) {
    mdb::common::Log(mdb::common::LogLevel::kError, "server", server.status().message());
    return 1;
  }
  if (auto st = (*server)->Start(); !st.ok()) {
    mdb::common::Log(mdb::common::LogLevel::kError, "server", st.message());
    return 1;
  }
  printf("mdb-backupd: listening grpc=%s rest=%s\n", (*server)->grpc_address().c_str(),
         (*server)->rest_address().c_str());
  fflush(stdout);

  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      auto st = (*server)->Reload();
      if (st.ok()) {
        mdb::common::Log(mdb::common::LogLevel::kInfo, "server",
                         absl::StrFormat("configuration reloaded from %s", config.c_str()));
      } else {
        mdb::common::Log(mdb::common::LogLevel::kError, "server",
                         absl::StrFormat("reload failed, keeping the running configuration: %s",
                                         std::string(st.message()).c_str()));
      }
      continue;
    }
    mdb::common::Log(mdb::common::LogLevel::kInfo, "server",
                     absl::StrFormat("%s received, shutting down", strsignal(sig)));
    (*server)->Shutdown();
    return 0;
  }
}
