// mdb-backup: the command-line client. API commands speak the REST API of a running mdb-backupd;
// `catalog import` writes a catalog file directly (for migrations and test fixtures).
#include <httplib.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "catalog/catalog.h"
#include "cli/api_paths.h"
#include "cli/catalog_commands.h"
#include "cli/client.h"
#include "cli/cluster_check.h"
#include "cli/point_in_time.h"
#include "cli/repo_commands.h"
#include "cli/views.h"
#include "common/config.h"
#include "common/engines.h"
#include "common/ids.h"
#include "common/version.h"
#include "engine/all.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace {

const mdb::common::EngineInfo& EngineRow(const std::string& engine) {
  const auto& engines = mdb::engine::BuiltInEngines().table();
  return *engines.Find(*engines.Parse(engine));  // names are checked by the options
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
  umask(077);  // repositories, catalogs and restored files are for their owner only
  CLI::App app{"mdb-backup: command-line client of mdb-backupd"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mdb-backup ") + mdb::common::kVersion);
  mdb::cli::Client client;
  const char* env_endpoint = getenv("MDB_BACKUP_ENDPOINT");
  const char* env_token = getenv("MDB_BACKUP_TOKEN");
  client.endpoint = env_endpoint ? env_endpoint : "http://127.0.0.1:8080";
  client.token = env_token ? env_token : "";
  app.add_option("--endpoint", client.endpoint,
                 "REST endpoint of mdb-backupd ($MDB_BACKUP_ENDPOINT)");
  app.add_option("--token", client.token, "API token ($MDB_BACKUP_TOKEN)");
  const char* env_ca = getenv("MDB_BACKUP_CACERT");
  client.ca_file = env_ca ? env_ca : "";
  app.add_option("--cacert", client.ca_file,
                 "https: trust this CA's certificates (PEM) instead of the system's "
                 "($MDB_BACKUP_CACERT)");
  app.add_option("--cert", client.cert_file, "https with mutual TLS: this client's certificate");
  app.add_option("--key", client.key_file, "https with mutual TLS: its private key");
  std::string format = "table";
  bool utc = false;
  app.add_option("--format", format,
                 "output of API commands: table (for people), json (the API's "
                 "proto3 JSON, for scripts) or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  app.add_flag("--utc", utc, "times in tables in UTC (default: this machine's time zone)");
  app.footer(
      "Exit codes: 0 done; 1 an error (the message says which; an operation that failed, with "
      "--wait); 2 a usage mistake; 3 repo verify found damage.");

  std::string engine, folder, cluster, id, catalog_path, file = "-";
  int64_t page_size = 0;
  bool wait = false;
  std::vector<std::string> engines;
  for (const auto& e : mdb::engine::BuiltInEngines().table().rows()) engines.emplace_back(e.name);

  auto* backup = app.add_subcommand("backup", "list, show and delete backups");
  backup->require_subcommand(1);
  auto* list = backup->add_subcommand("list", "list backups, newest first");
  list->add_option("--engine", engine, "one engine's backups (default: all four)")
      ->check(CLI::IsMember(engines));
  auto* folder_opt = list->add_option("--folder", folder, "backups of this folder");
  list->add_option("--cluster", cluster, "backups of this cluster")->excludes(folder_opt);
  list->add_option("--page-size", page_size, "backups per page (0: 100)");
  auto* get = backup->add_subcommand("get", "show one backup");
  get->add_option("--engine", engine)->required()->check(CLI::IsMember(engines));
  get->add_option("id", id)->required();
  auto* del = backup->add_subcommand("delete", "delete a backup and its data");
  del->add_option("--engine", engine)->required()->check(CLI::IsMember(engines));
  del->add_option("--cluster", cluster,
                  "cluster of the backup (for engines that delete through the cluster)");
  del->add_option("id", id)->required();
  del->add_flag("--wait", wait, "wait until the operation is done");

  std::string target;
  auto* create = backup->add_subcommand("create", "take a MANUAL backup of a cluster now");
  create->add_option("--engine", engine)->required()->check(CLI::IsMember(engines));
  create->add_option("--cluster", cluster, "the cluster to back up")->required();
  create->add_flag("--wait", wait, "wait until the backup is done");
  std::string point_in_time;
  auto* rest = backup->add_subcommand(
      "restore", "restore a backup (or a cluster to a point in time) into a declared cluster");
  rest->add_option("--engine", engine)->required()->check(CLI::IsMember(engines));
  rest->add_option("id", id,
                   "the backup; with --time and --cluster instead, the newest backup of that "
                   "cluster completed by the time");
  rest->add_option("--to", target, "id of the (fresh, empty) target cluster in the config")
      ->required();
  rest->add_option("--time", point_in_time,
                   "restore to this moment (engines with a journal): RFC 3339, a local time with "
                   "its zone (\"2026-12-04 08:00:00 Europe/Moscow\"), or `latest` (with "
                   "--cluster): the last archived transaction");
  rest->add_option("--cluster", cluster, "with --time and no backup id: the source cluster");
  rest->add_flag("--wait", wait, "wait until the restore is done");
  mdb::cli::RestoreScope scope;  // OpenSearch: part of a backup
  rest->add_option("--indices", scope.indices,
                   "only these indices (names, `*` patterns, -excluded)")
      ->delimiter(',');
  rest->add_option("--rename-pattern", scope.rename_pattern, "rename restored indices: a regex");
  rest->add_option("--rename-replacement", scope.rename_replacement, "... and its replacement");
  rest->add_flag("--global-state", scope.global_state,
                 "also the cluster-wide state (templates, persistent settings, pipelines)");

  auto* drill = backup->add_subcommand(
      "drill", "restore a backup into throwaway servers and check it (a restore drill)");
  drill->add_option("id", id, "the backup")->required();
  drill->add_option("--to", target, "`local` (default) or a cluster declared `scratch: true`");
  drill->add_flag("--wait", wait, "wait until the drill is done");

  auto* op = app.add_subcommand("operation", "show or wait for an operation");
  op->require_subcommand(1);
  auto* op_get = op->add_subcommand("get", "show an operation");
  op_get->add_option("id", id)->required();
  auto* op_wait = op->add_subcommand("wait", "wait until an operation is done, then show it");
  op_wait->add_option("id", id)->required();

  auto* cat = app.add_subcommand("catalog", "maintain a catalog file directly");
  cat->require_subcommand(1);
  auto* imp = cat->add_subcommand("import", "add backup records (JSON lines) to a catalog");
  imp->add_option("--catalog", catalog_path, "the catalog: SQLite file or postgresql:// URI")
      ->required();
  imp->add_option("file", file, "JSON-lines file of mdb_backup.v1.BackupRecord, - for stdin");

  std::string repo_url, key_file;
  auto* rebuild = cat->add_subcommand(
      "rebuild", "add every backup of a repository that the catalog lacks (disaster recovery)");
  rebuild
      ->add_option("--catalog", catalog_path,
                   "the catalog: SQLite file (created if missing) or postgresql:// URI")
      ->required();
  rebuild->add_option("--repo", repo_url, "repository path or s3://bucket/prefix?endpoint=...")
      ->required();
  rebuild->add_option("--key-file", key_file, "the repository's key file, if encrypted");

  auto* cl = app.add_subcommand("cluster", "list, show and check the declared clusters");
  cl->require_subcommand(1);
  std::string config_path;
  if (const char* env_config = getenv("MDB_BACKUP_CONFIG")) config_path = env_config;
  auto* check = cl->add_subcommand(
      "check",
      "pre-flight: can this host back up (or restore into) the cluster? Connects with the "
      "config's credentials; exit 1 when a requirement is not met");
  check->add_option("id", cluster, "the cluster's id in the config")->required();
  check->add_option("--config", config_path, "mdb-backupd's config file ($MDB_BACKUP_CONFIG)")
      ->required(config_path.empty());
  auto* cl_list = cl->add_subcommand("list", "the clusters of a folder (from the API)");
  cl_list->add_option("--folder", folder, "the folder")->required();
  cl_list->add_option("--engine", engine, "one engine's (default: all four)")
      ->check(CLI::IsMember(engines));
  auto* status = cl->add_subcommand(
      "status", "a cluster's backups at a glance: the newest of each kind, the restorable window");
  status->add_option("id", cluster, "the cluster's id")->required();
  status->add_option("--engine", engine, "its engine (default: found)")
      ->check(CLI::IsMember(engines));
  auto* window = cl->add_subcommand(
      "window", "the moments a restore of the cluster reaches, and the gaps between them");
  window->add_option("id", cluster, "the cluster's id")->required();
  auto* drills = cl->add_subcommand("drills", "the newest restore drill of each backup");
  drills->add_option("id", cluster, "the cluster's id")->required();

  auto run_repo = mdb::cli::AddRepoCommands(&app);

  CLI11_PARSE(app, argc, argv);
  if (app.got_subcommand("repo")) return run_repo();

  auto fail = [](const absl::Status& st) {
    std::cerr << "mdb-backup: " << st.message() << "\n";
    return 1;
  };
  // Starts an RPC returning an operation; with --wait, follows it to its end.
  mdb::cli::ViewOptions view{.format = format == "json"   ? mdb::cli::Format::kJson
                                       : format == "yaml" ? mdb::cli::Format::kYaml
                                                          : mdb::cli::Format::kTable,
                             .zone = utc ? absl::UTCTimeZone() : absl::LocalTimeZone()};
  auto print = [&](const absl::StatusOr<std::string>& text) {
    if (!text.ok()) return fail(text.status());
    std::cout << *text;
    return 0;
  };
  auto wait_op = [&](const std::string& op_id) {
    const bool tty = isatty(STDERR_FILENO);
    const absl::Time start = absl::Now();
    int64_t done_at_start = -1;
    for (;;) {
      std::string body;
      if (int rc = client.Call("GET", "/operations/" + op_id, &body); rc != 0) return rc;
      auto op = mdb::cli::ParseOperation(body);
      if (!op.ok()) return fail(op.status());
      if (op->done()) {
        if (tty) std::cerr << "\r\033[K";
        view.now = absl::Now();
        if (int rc = print(mdb::cli::RenderOperation(body, view)); rc != 0) return rc;
        return op->has_error() ? 1 : 0;
      }
      auto [done, total] = mdb::cli::OperationProgress(*op);
      if (done_at_start < 0) done_at_start = done;
      if (tty) {
        std::cerr << "\r\033[K"
                  << mdb::cli::ProgressLine(done, total, done_at_start,
                                            absl::ToDoubleSeconds(absl::Now() - start))
                  << std::flush;
      }
      // The wait after the operation ends is half a poll on average: 50 ms polls for the first
      // 10 s (a Redis backup of a GB takes ~4 s; 200 ms polls added ~2.5% to it), then 200 ms,
      // which is noise on anything longer and a fifth of the requests.
      const bool early = absl::Now() - start < absl::Seconds(10);
      std::this_thread::sleep_for(std::chrono::milliseconds(early ? 50 : 200));
    }
  };

  if (*check) return mdb::cli::CheckCluster(config_path, cluster);
  if (*imp) return mdb::cli::ImportCatalog(catalog_path, file);
  if (*rebuild) return mdb::cli::RebuildCatalog(catalog_path, repo_url, key_file);
  auto call = [&](const absl::StatusOr<mdb::cli::RestCall>& c, const std::string& query = "",
                  std::string* out = nullptr, const std::string& body = "") {
    if (!c.ok()) return fail(c.status());
    return client.Call(c->verb, c->path + query, out, body);
  };
  auto start_op = [&](const absl::StatusOr<mdb::cli::RestCall>& c, const std::string& body = "") {
    std::string reply;
    if (int rc = call(c, "", &reply, body); rc != 0) return rc;
    auto op = mdb::cli::ParseOperation(reply);
    if (!wait) {
      // Exit 0 says only that it started: the operation may still fail (a delete refused for
      // an incremental's parent), so say where its result is.
      if (int rc = print(mdb::cli::RenderOperation(reply, view)); rc != 0) return rc;
      if (op.ok() && isatty(STDERR_FILENO)) {
        std::cerr << "mdb-backup: started operation " << op->id()
                  << "; its result: mdb-backup operation wait " << op->id()
                  << " (or give --wait)\n";
      }
      return 0;
    }
    return op.ok() ? wait_op(op->id()) : fail(op.status());
  };
  if (*window) {
    std::string body;
    if (int rc = client.Call("GET", mdb::cli::RecoveryWindowPath(cluster), &body); rc != 0) {
      return rc;
    }
    return print(mdb::cli::RenderRecoveryWindow(body, view));
  }
  if (*drills) {
    std::string body;
    if (int rc = client.Call("GET", mdb::cli::VerificationsPath(cluster), &body); rc != 0) {
      return rc;
    }
    return print(mdb::cli::RenderVerifications(body, view));
  }
  if (*drill) {
    return start_op(mdb::cli::RestCall{"POST", mdb::cli::DrillPath(id)},
                    absl::StrCat(R"({"target":)", mdb::cli::JsonString(target), "}"));
  }
  if (*cl_list || *status) {
    // Each engine asked in turn (or the one given); an engine that has no such cluster answers
    // NOT_FOUND and is skipped.
    std::vector<std::pair<std::string, std::string>> found;
    for (const auto& name : engine.empty() ? engines : std::vector<std::string>{engine}) {
      const auto& row = EngineRow(name);
      auto c = *cl_list
                   ? mdb::cli::RestCallOf(row, "ClusterService.List", {})
                   : mdb::cli::RestCallOf(row, "ClusterService.Get", {{"cluster_id", cluster}});
      if (!c.ok()) return fail(c.status());
      std::string path = c->path;
      if (*cl_list) path += "?folderId=" + mdb::cli::UrlEscape(folder) + "&pageSize=1000";
      std::string reply;
      int http = 0;
      if (client.Call(c->verb, path, &reply, "", engine.empty() ? &http : nullptr) != 0) {
        if (http == 404) continue;
        if (http) mdb::cli::Client::PrintError(http, reply);
        return 1;
      }
      found.emplace_back(name, std::move(reply));
      if (*status) break;
    }
    if (*cl_list) return print(mdb::cli::RenderClusters(found, view));
    if (found.empty()) {
      return fail(absl::NotFoundError(absl::StrCat("no engine knows cluster '", cluster, "'")));
    }
    // Every backup of the cluster, newest first, and its newest operations.
    const auto& row = EngineRow(found[0].first);
    auto backups =
        mdb::cli::RestCallOf(row, "ClusterService.ListBackups", {{"cluster_id", cluster}});
    auto operations =
        mdb::cli::RestCallOf(row, "ClusterService.ListOperations", {{"cluster_id", cluster}});
    if (!backups.ok() || !operations.ok()) {
      return fail(backups.ok() ? operations.status() : backups.status());
    }
    std::vector<std::string> pages;
    if (int rc = client.Walk(backups->path + "?pageSize=1000", &pages); rc != 0) return rc;
    std::string ops;
    int http = 0;
    if (client.Call("GET", operations->path + "?pageSize=20", &ops, "", &http) != 0) {
      if (http != 404 && http != 501) {
        if (http) mdb::cli::Client::PrintError(http, ops);
        return 1;
      }
      ops = "{}";  // a server of a version before ListOperations: the status without them
    }
    return print(mdb::cli::RenderClusterStatus(found[0].first, found[0].second, pages, ops, view));
  }
  if (*list) {
    if (cluster.empty() && folder.empty()) {
      return fail(absl::InvalidArgumentError("backup list: give --cluster ID or --folder ID"));
    }
    std::string query =
        cluster.empty() ? absl::StrCat("?folderId=", mdb::cli::UrlEscape(folder)) : "?";
    if (page_size) absl::StrAppend(&query, "&pageSize=", page_size);
    // Without --engine, every engine's list: a cluster belongs to one, the others answer
    // NOT_FOUND (skipped); a folder may have backups of all four.
    std::vector<std::pair<std::string, std::string>> pages;
    for (const auto& name : engine.empty() ? engines : std::vector<std::string>{engine}) {
      const auto& row = EngineRow(name);
      auto c = cluster.empty() ? mdb::cli::RestCallOf(row, "BackupService.List", {})
                               : mdb::cli::RestCallOf(row, "ClusterService.ListBackups",
                                                      {{"cluster_id", cluster}});
      if (!c.ok()) return fail(c.status());
      std::string page;
      int status = 0;
      if (client.Call(c->verb, c->path + query, &page, "", engine.empty() ? &status : nullptr) !=
          0) {
        if (status == 404) continue;
        if (status != 0) mdb::cli::Client::PrintError(status, page);
        return 1;
      }
      pages.emplace_back(name, std::move(page));
    }
    if (pages.empty()) {
      return fail(absl::NotFoundError(absl::StrCat("no engine knows cluster '", cluster, "'")));
    }
    // Of one cluster: its drills too (a server without them, or an older one: no column).
    std::optional<std::map<std::string, std::string>> verified;
    std::string drilled;
    int http = 0;
    if (!cluster.empty() &&
        client.Call("GET", mdb::cli::VerificationsPath(cluster), &drilled, "", &http) == 0) {
      if (auto cells = mdb::cli::VerifiedCells(drilled, view); cells.ok()) verified = *cells;
    }
    return print(mdb::cli::RenderBackups(pages, view, verified ? &*verified : nullptr));
  }
  if (*get) {
    std::string body;
    if (int rc =
            call(mdb::cli::RestCallOf(EngineRow(engine), "BackupService.Get", {{"backup_id", id}}),
                 "", &body);
        rc != 0) {
      return rc;
    }
    return print(mdb::cli::RenderBackup(body, view));
  }
  if (*del) return start_op(mdb::cli::DeleteBackupCall(EngineRow(engine), id, cluster));
  if (*create) {
    return start_op(mdb::cli::RestCallOf(EngineRow(engine), "ClusterService.Backup",
                                         {{"cluster_id", cluster}}));
  }
  if (*rest) {
    const auto& row = EngineRow(engine);
    std::string time_member;  // the engine's request field for --time, as JSON
    std::string options_member;
    if (!scope.empty()) {  // before anything is asked of the server
      auto options = mdb::cli::RestoreOptionsMember(row, scope);
      if (!options.ok()) return fail(options.status());
      options_member = "," + *options;
    }
    // `--time "$T"` with T unset must not become a restore to the backup's own point.
    if (rest->get_option("--time")->count() > 0 && point_in_time.empty()) {
      return fail(absl::InvalidArgumentError("--time is empty: give the time to restore to"));
    }
    if (!id.empty() && !cluster.empty()) {
      return fail(absl::InvalidArgumentError(
          "give either the backup to restore or --cluster (with --time) to pick one, not both"));
    }
    if (!point_in_time.empty()) {
      auto driver = mdb::engine::BuiltInEngines().MakeDriver(row.engine);
      if (driver.ok() && !(*driver)->capabilities().point_in_time) {
        return fail(absl::InvalidArgumentError(absl::StrCat(
            engine, " backups restore to their own consistent point only: leave out --time")));
      }
      absl::StatusOr<absl::Time> t = mdb::cli::ParsePointInTime(point_in_time);
      if (point_in_time == "latest") {  // the end of the cluster's restorable window
        std::string w;
        if (cluster.empty())
          return fail(absl::InvalidArgumentError("--time latest needs --cluster"));
        if (int rc = client.Call("GET", mdb::cli::RecoveryWindowPath(cluster), &w); rc) return rc;
        t = mdb::cli::LatestOfWindow(w);
      }
      if (!t.ok()) return fail(t.status());
      auto member = mdb::cli::PointInTimeMember(row, *t);
      if (!member.ok()) return fail(member.status());
      time_member = "," + *member;
      if (id.empty() && !cluster.empty()) {
        // The newest backup completed by then: pages of the cluster's list, newest first.
        std::string token;
        int pages = 0;
        do {
          std::string page;
          std::string query = "?pageSize=1000";
          if (!token.empty()) {
            absl::StrAppend(&query, "&pageToken=", mdb::cli::UrlEscape(token));
          }
          if (int rc = call(mdb::cli::RestCallOf(row, "ClusterService.ListBackups",
                                                 {{"cluster_id", cluster}}),
                            query, &page);
              rc != 0) {
            return rc;
          }
          const std::string previous = token;
          auto found = mdb::cli::NewestBackupBefore(row, page, *t, &token);
          if (!found.ok()) return fail(found.status());
          // A server (or proxy) handing out the same page again would loop forever.
          if ((!token.empty() && token == previous) || ++pages > 100000) {
            return fail(absl::DataLossError("the backup list does not advance; giving up"));
          }
          if (*found) id = **found;
        } while (id.empty() && !token.empty());
        if (id.empty()) {
          return fail(absl::NotFoundError(
              absl::StrCat("cluster '", cluster, "' has no backup completed by ",
                           absl::FormatTime(absl::RFC3339_full, *t, absl::UTCTimeZone()),
                           ": a point in time is reached from a backup taken before it")));
        }
        std::cerr << "mdb-backup: restoring from backup " << id << ", the newest of cluster '"
                  << cluster << "' completed by then\n";
      }
    }
    if (id.empty()) {
      return fail(absl::InvalidArgumentError(
          "give the backup to restore, or --time with --cluster to pick the newest backup of "
          "that cluster completed by then"));
    }
    // The contract requires environment, a config and a network for a new cluster; the target
    // here is a declared cluster, so the CLI fills them with neutral values.
    // The new cluster's folder is required by some engines' contract: the backup's folder.
    std::string backup_json;
    if (int rc = call(mdb::cli::RestCallOf(row, "BackupService.Get", {{"backup_id", id}}), "",
                      &backup_json);
        rc != 0) {
      return rc;
    }
    auto folder_id = mdb::cli::BackupFolder(row, backup_json);
    if (!folder_id.ok()) return fail(folder_id.status());

    std::string body = absl::StrCat(
        R"({"backupId":)", mdb::cli::JsonString(id), R"(,"folderId":)",
        mdb::cli::JsonString(*folder_id), R"(,"name":)", mdb::cli::JsonString(target),
        R"(,"environment":"PRODUCTION","configSpec":{},)",
        R"("config":{},"networkId":"local","hostSpecs":[{}])", time_member, options_member, "}");
    return start_op(mdb::cli::RestCallOf(row, "ClusterService.Restore", {}), body);
  }
  if (*op_get) {
    std::string body;
    if (int rc = client.Call("GET", "/operations/" + mdb::cli::UrlEscape(id), &body); rc != 0) {
      return rc;
    }
    return print(mdb::cli::RenderOperation(body, view));
  }
  if (*op_wait) return wait_op(id);
  return 2;
}
