// Restore drills of Greenplum/PostgreSQL backups: each segment is restored into a data directory
// under the drill's own directory, a throwaway `postgres` of the segment's major version is
// started on it (Unix socket only, in a directory only the drill user can enter; WAL archiving
// and preloaded libraries off, so that the copy neither pushes WAL into the source's archive nor
// needs its extensions), waited for until recovery has ended, and checked: it accepts queries,
// and pg_amcheck finds every table and B-tree index of every database sound.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/greenplum/pg_conn.h"
#include "engine/greenplum/relations.h"
#include "io/stream.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::greenplum {
namespace {

constexpr absl::Duration kRecoveryTimeout = absl::Hours(2);
constexpr absl::Duration kCheckTimeout = absl::Hours(6);

// The directory of the PostgreSQL binaries for a data directory: the configured one, else
// Debian's for the data directory's major version (PG_VERSION).
// PG_VERSION comes from the backup (the source's files): only a version number is used in a path.
absl::StatusOr<std::string> BinDir(const std::string& configured, const std::string& data_dir) {
  if (!configured.empty()) return configured;
  std::string version(absl::StripAsciiWhitespace(common::ReadTail(data_dir + "/PG_VERSION", 16)));
  if (version.empty() || version.size() > 4 ||
      version.find_first_not_of("0123456789.") != std::string::npos) {
    return absl::DataLossError(
        absl::StrCat("the restored PG_VERSION holds '", version, "', not a PostgreSQL version"));
  }
  return absl::StrCat("/usr/lib/postgresql/", version, "/bin");
}

class PgScratch final : public Scratch {
 public:
  PgScratch(ScratchRequest req, const mdb_backup::v1::PgBackup& meta) : req_(std::move(req)) {
    target_.id = "drill";
    target_.engine = common::Engine::GREENPLUM;
    target_.restore_target = true;
    for (const auto& s : meta.shards()) {
      target_.shards.push_back({.name = s.name(), .hosts = {}});
      superusers_.push_back(s.superuser().empty() ? "postgres" : s.superuser());
    }
  }
  ~PgScratch() override {
    for (auto& c : servers_) c->Stop(absl::Seconds(30));  // SIGTERM: a smart shutdown first
  }
  const common::ClusterConfig& target() const override { return target_; }
  std::string tools() const override { return bin_dir_; }

  // Directories and addresses before the restore writes into them.
  absl::Status Layout() {
    for (size_t i = 0; i < target_.shards.size(); ++i) {
      const std::string dir = absl::StrCat(req_.dir, "/shard", i);
      for (const std::string& d : {dir, dir + "/data"}) {
        RETURN_IF_ERROR(common::MakeOwnedDir(d, req_.process.uid, req_.process.gid));
      }
      // Socket only: the port number just names the socket file in `dir`. As the source's
      // bootstrap superuser (recorded at backup; Greenplum's is gpadmin).
      target_.shards[i].hosts.push_back(
          {.address = absl::StrCat(dir, ":5432"),
           .options = {
               {"data_dir", dir + "/data"}, {"socket_dir", dir}, {"user", superusers_[i]}}});
    }
    return absl::OkStatus();
  }

  absl::Status AfterRestore() override {
    for (size_t i = 0; i < target_.shards.size(); ++i) RETURN_IF_ERROR(StartOne(i));
    return absl::OkStatus();
  }

 private:
  absl::Status StartOne(size_t i) {
    const std::string dir = absl::StrCat(req_.dir, "/shard", i);
    const std::string data = dir + "/data";
    ASSIGN_OR_RETURN(bin_dir_, BinDir(req_.binary, data));
    const std::string hba = dir + "/drill_hba.conf";
    RETURN_IF_ERROR(common::WriteNewFile(
        hba,
        "# mdb-backup drill: the socket's directory admits only the drill user and root\n"
        "local all all trust\n",
        req_.process.uid, req_.process.gid));
    common::ChildOptions opts = req_.process;
    opts.output_file = dir + "/server.log";
    opts.work_dir = dir;
    // Over the restored server's own settings: no TCP listener, our pg_hba, no WAL pushed to
    // the source's archive, no libraries the drill host may lack, no certificates to find.
    // Settings recovery requires at least as high as the source's (max_connections...) stay its
    // own; the buffer cache is small (a drill server is not the production one's size). Nothing
    // is synced to disk (fsync=off: the end of recovery's checkpoint included): the copy is
    // checked and thrown away, and a crash of the drill host only fails the drill.
    std::vector<std::string> argv{bin_dir_ + "/postgres", "-D", data, "-p", "5432", "-k", dir};
    for (const std::string& setting :
         {std::string("listen_addresses="), "hba_file=" + hba, std::string("archive_mode=off"),
          std::string("shared_preload_libraries="), std::string("ssl=off"),
          std::string("logging_collector=off"), std::string("shared_buffers=128MB"),
          std::string("huge_pages=off"), std::string("fsync=off"),
          std::string("synchronous_commit=off")}) {
      argv.push_back("-c");
      argv.push_back(setting);
    }
    ASSIGN_OR_RETURN(auto child, common::Child::Start(argv, opts));
    common::Child* server = child.get();
    servers_.push_back(std::move(child));
    const common::HostConfig& host = target_.shards[i].hosts.front();
    for (absl::Time until = absl::Now() + kRecoveryTimeout;;) {
      if (req_.cancelled && req_.cancelled->load()) {
        return absl::CancelledError("drill cancelled while its server recovered");
      }
      int code = 0;
      if (!server->Running(&code)) {
        return absl::FailedPreconditionError(
            absl::StrCat("segment '", target_.shards[i].name,
                         "': the restored server stopped during recovery (exit ", code,
                         "): ", common::ReadTail(opts.output_file)));
      }
      if (auto conn = PgConnect(host, false, req_.cancelled); conn.ok()) {
        auto r = PgExec(conn->get(), "SELECT pg_catalog.pg_is_in_recovery()", req_.cancelled);
        if (r.ok() && r->rows.size() == 1 && r->rows[0][0] && *r->rows[0][0] == "f") break;
      }
      if (absl::Now() > until) {
        return absl::DeadlineExceededError(absl::StrCat(
            "segment '", target_.shards[i].name, "': recovery did not end in ",
            absl::FormatDuration(kRecoveryTimeout), ": ", common::ReadTail(opts.output_file)));
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
    return absl::OkStatus();
  }

  ScratchRequest req_;
  common::ClusterConfig target_;
  std::string bin_dir_;
  std::vector<std::string> superusers_;  // per shard
  std::vector<std::unique_ptr<common::Child>> servers_;
};

// The relations the backup listed, found in the restored segment (extra ones are not a fault:
// created between the listing and the restore point). Returns what was checked, for the report.
absl::StatusOr<std::string> CheckRelations(const VerifyRequest& req,
                                           const mdb_backup::v1::PgShardBackup& segment,
                                           const common::HostConfig& host, VerifyResult* out) {
  ASSIGN_OR_RETURN(std::vector<Relation> found, ListRelations(host, req.cancelled));
  const std::string counted = absl::StrCat(found.size(), " relations");
  if (segment.relations_stream().empty()) return counted + " (no list recorded to compare)";
  io::StringSink text;
  RETURN_IF_ERROR(req.repository->RestoreStream(*req.manifest, segment.relations_stream(), &text));
  ASSIGN_OR_RETURN(std::vector<Relation> recorded, ParseRelations(text.data()));
  std::set<std::pair<std::string, std::string>> have;
  for (const auto& r : found) have.emplace(r.database, r.name);
  std::vector<std::string> missing;
  for (const auto& r : recorded) {
    if (!have.count({r.database, r.name})) missing.push_back(r.database + ": " + r.name);
  }
  if (!missing.empty()) {
    out->problems.push_back(
        absl::StrCat("segment '", segment.name(), "': ", missing.size(), " of the ",
                     recorded.size(), " relations the backup listed are missing: ",
                     absl::StrJoin(missing.begin(),
                                   missing.begin() + std::min<size_t>(missing.size(), 20), ", ")));
  }
  return absl::StrCat(counted, ", the ", recorded.size(), " the backup listed among them");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scratch>> GreenplumDriver::PrepareScratch(
    const ScratchRequest& req) {
  mdb_backup::v1::PgBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  auto scratch = std::make_unique<PgScratch>(req, meta);
  RETURN_IF_ERROR(scratch->Layout());
  return scratch;
}

absl::StatusOr<VerifyResult> GreenplumDriver::VerifyRestored(const VerifyRequest& req) {
  VerifyResult out;
  if (!req.scratch) {
    out.checked.push_back("restored into the data directories (no server started by the drill)");
    return out;
  }
  mdb_backup::v1::PgBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  for (size_t i = 0; i < req.target->shards.size() && i < static_cast<size_t>(meta.shards_size());
       ++i) {
    const auto& shard = req.target->shards[i];
    const common::HostConfig& host = shard.hosts.front();
    ASSIGN_OR_RETURN(std::string relations, CheckRelations(req, meta.shards(i), host, &out));
    const std::string dir = host.options.at("socket_dir");
    const common::ChildOptions& opts = req.process;  // its output comes back through a pipe
    // Every table and B-tree index of every database; amcheck is installed where missing (the
    // copy is thrown away after). Relations are checked on up to 4 connections at once (a
    // table's heap and its indexes apart): reading them is what a drill's check costs.
    const unsigned jobs = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
    ASSIGN_OR_RETURN(common::RunResult run,
                     common::RunToEnd({req.scratch->tools() + "/pg_amcheck", "-h", dir, "-p",
                                       "5432", "-U", host.options.at("user"), "--all",
                                       "--install-missing", absl::StrCat("--jobs=", jobs)},
                                      opts, kCheckTimeout, req.cancelled));
    if (run.exit_code != 0) {
      out.problems.push_back(absl::StrCat("segment '", shard.name, "': pg_amcheck exited ",
                                          run.exit_code, ": ", run.output));
      continue;
    }
    out.checked.push_back(absl::StrCat("segment '", shard.name, "': recovered; ", relations,
                                       "; pg_amcheck found every table and B-tree index sound"));
  }
  return out;
}

}  // namespace mdb::engine::greenplum
