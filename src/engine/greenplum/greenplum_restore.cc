// Restore of a segment = unpack its base archive into the target's empty data directory. The
// archive carries the WAL from the backup's start to its end (BASE_BACKUP WAL), so the server
// started on that directory recovers to the backup's consistent end by itself.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status.h"
#include "common/time_util.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/greenplum/page_archive.h"
#include "engine/greenplum/segments.h"
#include "engine/greenplum/tar_extract.h"
#include "engine/greenplum/wal_names.h"
#include "engine/per_shard.h"
#include "io/beneath.h"
#include "io/pipe.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::greenplum {
namespace {

// What a cancel leaves: shards restore in parallel (per_shard.h), so every one's data directory
// is partial, and a shard that was past its journal stage keeps its staged WAL beside its own.
std::string Stopped(const std::string& dir) {
  return absl::StrCat("restore cancelled; the target's data directories (this shard's: '", dir,
                      "') keep what was written: empty them, and remove any '<data directory>"
                      ".wal.*' directory beside them, before restoring into them again");
}

bool IsCancelRequested(const RestoreRequest& req) { return req.cancelled && req.cancelled->load(); }

std::string RestorePointName(const RestoreRequest& req) {
  mdb_backup::v1::PgBackup meta;
  (void)meta.ParseFromString(req.manifest->engine_metadata());
  return meta.restore_point();
}

// Writes `data` to the file `rel` under `dir`, owned by the data directory's owner. Through
// io::BeneathDir: the data directory belongs to the database's OS user by now, who must not be
// able to point one of these names elsewhere and have root write or chown it.
absl::Status WriteOwnedFile(io::BeneathDir* dir, const std::string& rel, std::string_view data,
                            int uid, int gid) {
  ASSIGN_OR_RETURN(int fd, dir->OpenFile(rel, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  io::FdSink sink(fd);
  absl::Status st = sink.Write(data);
  if (st.ok()) st = sink.Close();
  if (uid >= 0 && fchown(fd, uid, gid) != 0 && st.ok()) {
    st = absl::PermissionDeniedError(
        absl::StrCat("chown '", dir->Describe(rel), "': ", strerror(errno)));
  }
  close(fd);
  return st;
}

// Recovery settings in postgresql.auto.conf (replacing earlier ones), and recovery.signal: the
// server replays to `target` when it starts, then promotes itself (a new timeline).
// `settings` (name, value as written): the target host's declared port and socket directory, so
// that the restored server starts where the config says it is, not on its source's port beside it.
using Settings = std::vector<std::pair<std::string, std::string>>;
absl::Status WriteRecoveryConfig(const std::string& dir, const std::string& restore_command,
                                 const std::string& target, const Settings& settings, int uid,
                                 int gid) {
  // The backed-up cluster may itself have been restored: its postgresql.auto.conf then still
  // holds that restore's settings, and PostgreSQL refuses two kinds of recovery target. Earlier
  // recovery settings are dropped, everything else kept.
  ASSIGN_OR_RETURN(io::BeneathDir data_dir, io::BeneathDir::Open(dir));
  std::string old;
  if (auto fd = data_dir.OpenFile("postgresql.auto.conf", O_RDONLY, 0); fd.ok()) {
    char buf[65536];
    for (ssize_t n; (n = read(*fd, buf, sizeof(buf))) > 0 && old.size() < (16 << 20);) {
      old.append(buf, static_cast<size_t>(n));
    }
    close(*fd);
  }
  std::string conf;
  for (absl::string_view line : absl::StrSplit(old, '\n', absl::SkipEmpty())) {
    absl::string_view key = absl::StripLeadingAsciiWhitespace(line);
    bool replaced = absl::StartsWith(key, "restore_command") ||
                    absl::StartsWith(key, "recovery_target") ||
                    absl::StartsWith(key, "recovery_end_command") || key == "# mdb-backup restore";
    for (const auto& [name, value] : settings) replaced |= absl::StartsWith(key, name);
    if (replaced) continue;
    absl::StrAppend(&conf, line, "\n");
  }
  absl::StrAppend(&conf, "# mdb-backup restore\nrestore_command = '", restore_command, "'\n",
                  target, "recovery_target_action = 'promote'\n");
  for (const auto& [name, value] : settings) absl::StrAppend(&conf, name, " = ", value, "\n");
  RETURN_IF_ERROR(WriteOwnedFile(&data_dir, "postgresql.auto.conf", conf, uid, gid));
  return WriteOwnedFile(&data_dir, "recovery.signal", "", uid, gid);
}

// After the base: the archived WAL that recovery replays, in a directory beside the data
// directory (`<data_dir>.wal.XXXXXX`, read by restore_command), and the recovery target: the
// requested time, else the backup's cluster-wide restore point. Segments are staged up to the first
// one committed after the target, which therefore holds it. With no archived WAL reaching the
// restore point the data directory is left to recover to the base's own end, as before.
struct JournalPlan {
  std::vector<ArchivedSegment> stage;  // empty: recover to the base's own end
  // The target is the staged WAL's last transaction end: recover to the end of the staged WAL
  // (recovery_target_time would wait for a later commit, and PostgreSQL 13+ ends with FATAL
  // when none comes).
  bool to_end = false;
};

// Decided before anything is written, so that a target the journal cannot reach is refused with
// the target untouched.
absl::StatusOr<JournalPlan> PlanJournal(const RestoreRequest& req,
                                        const mdb_backup::v1::PgShardBackup& shard) {
  JournalPlan plan;
  if (req.source_cluster_id.empty() || !req.journal) return plan;
  ASSIGN_OR_RETURN(auto segments, ListSegments(req.journal, req.source_cluster_id, shard.name()));
  std::optional<Lsn> point = ParseLsn(shard.restore_point_lsn());
  // Every archived segment from the base's start on, as long as they follow each other (recovery
  // itself stops at the target); `reached` once one is past the target.
  SegmentChain chain = ChainFrom(segments, shard);
  std::vector<ArchivedSegment>& stage = chain.segments;
  const bool gap = chain.gap;
  bool reached = false;
  for (const auto& s : stage) {
    std::optional<absl::Time> ends = s.EndsBy();
    if (req.point_in_time ? ends && *ends > *req.point_in_time : point && s.end > *point) {
      reached = true;
    }
  }
  // At (or past) the last archived transaction but within what the window offers (up to that
  // transaction, or the backup's own time when none followed it): everything archived, to its
  // end. Past both, the WAL to the target is not archived yet (refused below).
  const absl::Time backup_at = common::FromProto(req.manifest->created_at());
  if (req.point_in_time && !reached && !gap && *req.point_in_time >= chain.last_end &&
      *req.point_in_time <= std::max(chain.last_end, backup_at)) {
    plan.to_end = !stage.empty();  // no WAL at all: the backup's own point
    reached = plan.to_end;
    if (!plan.to_end) return plan;
  }
  if (req.point_in_time && !reached && gap) {
    return absl::FailedPreconditionError(
        absl::StrCat("shard '", shard.name(), "': the archived WAL has a gap after ",
                     stage.empty() ? shard.start_lsn() : FormatLsn(stage.back().end),
                     ", before the requested time; choose a later backup"));
  }
  if (req.point_in_time && !reached) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard '", shard.name(), "': WAL up to ", absl::FormatTime(*req.point_in_time),
        " is not archived yet (",
        stage.empty()
            ? (segments.empty() ? "no WAL is archived" : "no WAL since this backup is archived")
        : chain.last_end == absl::InfinitePast()
            ? "no transaction since this backup is archived"
            : absl::StrCat("this backup restores to times up to ", absl::FormatTime(chain.last_end),
                           ", its last archived transaction"),
        "); try again later (mdb-backup cluster window shows what is reachable)"));
  }
  if (reached) plan.stage = std::move(stage);
  return plan;
}

// The archived WAL segments recovery replays, one file each in `staging`, stopping at a cancel
// between two segments and after the last (nothing after this stage checks it).
absl::Status StageSegments(const RestoreRequest& req, const JournalPlan& plan,
                           const std::string& dir, io::BeneathDir* staging, int uid, int gid) {
  for (const ArchivedSegment& s : plan.stage) {
    if (IsCancelRequested(req)) return absl::CancelledError(Stopped(dir));
    if (s.file.size() != 24 || s.file.find_first_not_of("0123456789ABCDEF") != std::string::npos) {
      return absl::DataLossError(
          absl::StrCat("WAL object '", s.object, "' does not end in a WAL file name"));
    }
    ASSIGN_OR_RETURN(std::string wal, req.journal->Get(s.piece));
    const std::string path = staging->Describe(s.file);
    ASSIGN_OR_RETURN(int fd, staging->OpenFile(s.file, O_WRONLY | O_CREAT | O_EXCL, 0600));
    io::FdSink sink(fd);
    absl::Status st = sink.Write(wal);
    if (st.ok()) st = sink.Close();
    if (st.ok() && uid >= 0 && fchown(fd, uid, gid) != 0) {
      st = absl::PermissionDeniedError(absl::StrCat("chown '", path, "': ", strerror(errno)));
    }
    close(fd);
    RETURN_IF_ERROR(st);
  }
  return IsCancelRequested(req) ? absl::CancelledError(Stopped(dir)) : absl::OkStatus();
}

// Removes a staging directory of a journal stage that did not finish, through its parent's
// descriptor (the parent may belong to the database's OS user: a link put in its place is what
// goes, never what it points at).
void RemoveStaging(const std::string& wal_dir) {
  const std::filesystem::path path(wal_dir);
  absl::StatusOr<io::BeneathDir> parent = io::BeneathDir::Open(path.parent_path().string());
  absl::Status st = parent.ok() ? parent->RemoveTree(path.filename().string()) : parent.status();
  if (!st.ok()) {
    common::Log(common::LogLevel::kWarning, "greenplum",
                absl::StrCat("restore: the staged WAL in '", wal_dir, "' could not be removed (",
                             st.message(), "): remove it by hand"));
  }
}

absl::Status StageInto(const RestoreRequest& req, const JournalPlan& plan, const std::string& dir,
                       const std::string& wal_dir, const Settings& settings, int uid, int gid) {
  // The directory holding it belongs to the database user, who could put a link in its place.
  ASSIGN_OR_RETURN(io::BeneathDir staging, io::BeneathDir::OpenOwn(wal_dir));
  if (uid >= 0 && fchown(staging.fd(), uid, gid) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("chown '", wal_dir, "': ", strerror(errno)));
  }
  RETURN_IF_ERROR(StageSegments(req, plan, dir, &staging, uid, gid));
  std::string target = plan.to_end ? ""
                       : req.point_in_time
                           ? absl::StrCat("recovery_target_time = '",
                                          absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00",
                                                           *req.point_in_time, absl::UTCTimeZone()),
                                          "'\n")
                           : absl::StrCat("recovery_target_name = '", RestorePointName(req), "'\n");
  absl::StrAppend(&target, "recovery_end_command = 'rm -rf \"", wal_dir, "\"'\n");
  return WriteRecoveryConfig(dir, absl::StrCat("cp \"", wal_dir, "/%f\" \"%p\""), target, settings,
                             uid, gid);
}

absl::Status StageJournal(const RestoreRequest& req, const mdb_backup::v1::PgShardBackup& shard,
                          const JournalPlan& plan, const std::string& dir, const Settings& settings,
                          int uid, int gid) {
  if (plan.stage.empty()) {
    // No archived WAL to replay: recover to the base's own end ('immediate': the backup's
    // consistent point, from the WAL in its own pg_wal; PostgreSQL looks there when
    // restore_command finds nothing) and promote. Promotion starts a new timeline, so the
    // restored cluster's WAL never takes the names of the history it was restored from, and its
    // next backup is never built on pages of that other history.
    return WriteRecoveryConfig(dir, "false", "recovery_target = 'immediate'\n", settings, uid, gid);
  }
  // A new directory beside the data directory, made here with a name nobody could predict
  // (never one found there: its parent may belong to the database's OS user, who could have put
  // a link in its place). Recovery reads it through restore_command and removes it when done
  // (recovery_end_command runs once, at the end of recovery, before the server promotes).
  std::string wal_dir = dir + ".wal.XXXXXX";
  if (mkdtemp(wal_dir.data()) == nullptr) {
    return absl::UnavailableError(absl::StrCat("create '", wal_dir, "': ", strerror(errno)));
  }
  // Nothing reads the staged WAL before the recovery settings naming it are written (last): a
  // stage that does not get that far removes the directory.
  absl::Status st = StageInto(req, plan, dir, wal_dir, settings, uid, gid);
  if (!st.ok()) RemoveStaging(wal_dir);
  return st;
}

// The declared port (as a number: PostgreSQL reads "05433" as octal) and, with the host option
// `socket_dir`, the socket directory of the restored server.
absl::StatusOr<Settings> TargetSettings(const common::HostConfig& host) {
  Settings out;
  int port = 0;
  if (absl::SimpleAtoi(host.address.substr(host.address.rfind(':') + 1), &port) && port >= 1 &&
      port <= 65535) {
    out.emplace_back("port", absl::StrCat(port));
  }
  if (auto it = host.options.find("socket_dir"); it != host.options.end()) {
    if (it->second.find_first_of("'\\\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("host ", host.address, ": socket_dir has a quote or \\ in it"));
    }
    out.emplace_back("unix_socket_directories", absl::StrCat("'", it->second, "'"));
  }
  return out;
}

// A server set up by Debian's pg_createcluster keeps postgresql.conf, pg_hba.conf and
// pg_ident.conf in /etc/postgresql/<version>/<name>, outside the data directory, so its backup
// has none and PostgreSQL would not start on the restored directory. The restore writes minimal
// ones (listening on the declared host, local connections by peer, TCP by password): the
// source's tuning is the operator's to carry over (docs/engines/greenplum.md).
absl::Status CompleteDebianLayout(io::BeneathDir* dir, const common::HostConfig& host, int uid,
                                  int gid) {
  if (auto fd = dir->OpenFile("postgresql.conf", O_RDONLY, 0); fd.ok()) {
    close(*fd);
    return absl::OkStatus();
  }
  const std::string listen = host.address.substr(0, host.address.rfind(':'));
  const std::string note =
      "# Written by mdb-backup's restore: the backed-up server kept its configuration outside\n"
      "# its data directory (Debian's pg_createcluster layout). Carry over what it needs.\n";
  RETURN_IF_ERROR(WriteOwnedFile(
      dir, "postgresql.conf",
      absl::StrCat(note, "listen_addresses = '",
                   listen.find('\'') == std::string::npos ? listen : "localhost", "'\n"),
      uid, gid));
  RETURN_IF_ERROR(WriteOwnedFile(dir, "pg_hba.conf",
                                 absl::StrCat(note,
                                              "local all all peer\n"
                                              "host all all 127.0.0.1/32 scram-sha-256\n"
                                              "host all all ::1/128 scram-sha-256\n"),
                                 uid, gid));
  return WriteOwnedFile(dir, "pg_ident.conf", note, uid, gid);
}

absl::Status RestoreShard(const RestoreRequest& req, const mdb_backup::v1::PgShardBackup& shard,
                          const JournalPlan& plan, const common::ShardConfig& target) {
  namespace fs = std::filesystem;
  const auto& opts = target.hosts.front().options;
  auto it = opts.find("data_dir");
  if (it == opts.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target shard '", target.name, "': its host needs a 'data_dir' to restore into"));
  }
  const std::string dir = it->second;
  // The directory's name goes into postgresql.auto.conf inside a shell command (restore_command).
  if (dir.find_first_of("'\"$`\\\n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target shard '", target.name, "': data_dir '", dir,
        "' has a quote, $, ` or \\ in it, which PostgreSQL's restore_command cannot take"));
  }
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("target shard '", target.name, "': data directory '", dir,
                     "' is not empty; restore only into empty directories"));
  }
  int uid = -1, gid = -1;
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    uid = static_cast<int>(st.st_uid);
    gid = static_cast<int>(st.st_gid);
  } else {
    fs::create_directories(dir, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("create '", dir, "': ", ec.message()));
  }
  chmod(dir.c_str(), 0700);  // PostgreSQL refuses a data directory others can read
  // The chain, BASE first: each backup's archive of this shard applied over the previous ones
  // (an INCREMENTAL archive holds only the pages changed since its parent began).
  std::vector<std::pair<const repo::Manifest*, mdb_backup::v1::PgShardBackup>> chain;
  for (const auto& m : req.ancestors) {
    mdb_backup::v1::PgBackup meta;
    if (!meta.ParseFromString(m.engine_metadata())) {
      return absl::DataLossError(
          absl::StrCat("the metadata of backup '", m.backup_id(), "' (an ancestor) is damaged"));
    }
    for (const auto& s : meta.shards()) {
      if (s.name() == shard.name()) chain.emplace_back(&m, s);
    }
  }
  chain.emplace_back(req.manifest, shard);
  for (const auto& [manifest, piece] : chain) {
    for (const auto& stream : piece.streams()) {
      const bool archive = absl::EndsWith(stream, "/base.mdbarc");
      if (!archive && !absl::EndsWith(stream, "/base.tar")) {
        return absl::UnimplementedError(
            absl::StrCat("archive '", stream, "' (a tablespace) cannot be restored yet"));
      }
      // Short: RestoreStream already fetches 8 chunks ahead; a longer pipe only holds more of
      // the restore in memory whenever the writer is the slower side (as the disk makes it:
      // +23 MB of peak RSS with 16 MiB here in a drill, BENCHMARKS.md).
      io::Pipe pipe(4 << 20);
      absl::Status read_status;
      const repo::Manifest* m = manifest;
      // A cancel (or a shutdown's stop) ends the copy between two chunks; the files written so
      // far stay (the next restore wants the directory empty: the message says so).
      io::CancellableSink into_pipe(&pipe, req.cancelled, Stopped(dir));
      std::thread reader([&] {
        read_status = req.repository->RestoreStream(*m, stream, &into_pipe);
        pipe.Finish();
      });
      absl::Status extract =
          archive ? ApplyArchive(&pipe, dir, uid, gid) : ExtractTar(&pipe, dir, uid, gid);
      // Read before Abandon: an extraction that failed while no cancel had refused a write failed
      // for its own reason (a full disk), which a cancel landing after must not hide.
      const bool cancel_first = into_pipe.refused();
      if (!extract.ok()) pipe.Abandon();
      reader.join();
      if (cancel_first || (extract.ok() && into_pipe.refused())) {
        return absl::CancelledError(Stopped(dir));
      }
      RETURN_IF_ERROR(io::PipeResult(read_status, extract));
    }
  }
  // Between the copy and the journal stage (which checks it itself); after that stage the restore
  // has done its work and ends OK.
  if (IsCancelRequested(req)) return absl::CancelledError(Stopped(dir));
  ASSIGN_OR_RETURN(Settings settings, TargetSettings(target.hosts.front()));
  ASSIGN_OR_RETURN(io::BeneathDir data_dir, io::BeneathDir::Open(dir));
  RETURN_IF_ERROR(CompleteDebianLayout(&data_dir, target.hosts.front(), uid, gid));
  RETURN_IF_ERROR(StageJournal(req, shard, plan, dir, settings, uid, gid));
  return req.durable ? SyncTree(dir) : absl::OkStatus();
}

}  // namespace

absl::Status GreenplumDriver::Restore(const RestoreRequest& req) {
  mdb_backup::v1::PgBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  if (meta.layout() == "gp_segment_configuration") {
    std::vector<std::string> names;
    for (const auto& s : meta.shards()) names.push_back(s.name());
    RETURN_IF_ERROR(CheckTargetLayout(names, *req.target));
  }
  // Every shard's journal first: a point the WAL cannot reach is refused before any is touched.
  std::vector<JournalPlan> plans;
  bool all_reach = true;
  for (const auto& shard : meta.shards()) {
    ASSIGN_OR_RETURN(JournalPlan plan, PlanJournal(req, shard));
    all_reach = all_reach && !plan.stage.empty();
    plans.push_back(std::move(plan));
  }
  // To the restore point only if every segment can get there: otherwise every segment recovers
  // to its own base end, rather than some to one point and some to another.
  if (!all_reach) {
    for (auto& p : plans) p.stage.clear();
    if (!req.point_in_time && !meta.restore_point().empty()) {
      common::Log(common::LogLevel::kWarning, "greenplum",
                  absl::StrCat("restore of backup '", req.manifest->backup_id(),
                               "': the WAL to its restore point is not archived for every "
                               "segment (wal_archive off, or archiving behind), so each segment "
                               "recovers to the end of its own copy: consistent per segment, not "
                               "at the cluster-wide point"));
    }
  }
  return RestoreEachShard(*req.target, meta.shards_size(), [&](size_t i) {
    return RestoreShard(req, meta.shards(i), plans[i], req.target->shards[i]);
  });
}

}  // namespace mdb::engine::greenplum
