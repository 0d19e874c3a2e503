// BASE_BACKUP over libpq (PostgreSQL 15 protocol): the server answers with the start position,
// the tablespace list, then one COPY stream in which each archive begins with an 'n' message
// (name, tablespace path) and carries its tar in 'd' messages; the end position follows. Each
// archive becomes one repository stream, read straight from the socket.
#include <libpq-fe.h>

#include <algorithm>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/host_options.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/greenplum/cut.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/greenplum/page_archive.h"
#include "engine/greenplum/pg_conn.h"
#include "engine/greenplum/relations.h"
#include "engine/greenplum/segments.h"
#include "engine/per_shard.h"
#include "io/pipe.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::greenplum {
namespace {

// The COPY stream of BASE_BACKUP as a sequence of archives, each readable as a ByteSource.
class ArchiveStream final : public io::ByteSource {
 public:
  ArchiveStream(PGconn* conn, const std::atomic<bool>* cancelled)
      : conn_(conn), cancelled_(cancelled) {}
  ~ArchiveStream() override {
    if (msg_) PQfreemem(msg_);
  }

  // Advances to the next archive; its name, or "" when the stream has ended.
  absl::StatusOr<std::string> NextArchive() {
    for (;;) {
      if (!msg_) RETURN_IF_ERROR(Fetch());
      if (!msg_) return std::string();  // end of COPY
      char type = msg_[0];
      if (type == 'n') {
        std::string name(msg_ + 1);
        Release();
        return name;
      }
      Release();  // progress ('p'), or data of an archive nobody reads
    }
  }

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    ASSIGN_OR_RETURN(std::string_view view, Peek(n));
    if (view.empty()) return 0;  // (its data() may be null)
    memcpy(buf, view.data(), view.size());
    Consume(view.size());
    return view.size();
  }
  // A view into libpq's CopyData message: the archive's bytes are copied once on their way to
  // the repository's pipe (io::ReadOwned), not into a buffer first.
  absl::StatusOr<std::string_view> Peek(size_t n) override {
    if (cancelled_ && cancelled_->load()) return absl::CancelledError("backup cancelled");
    for (;;) {
      if (!msg_) RETURN_IF_ERROR(Fetch());
      if (!msg_ || msg_[0] == 'n' || msg_[0] == 'm') return std::string_view();  // archive ended
      if (msg_[0] != 'd' || pos_ >= static_cast<size_t>(len_)) {  // (an empty 'd' is no end)
        Release();
        continue;
      }
      return std::string_view(msg_ + pos_, std::min(n, static_cast<size_t>(len_) - pos_));
    }
  }
  void Consume(size_t n) override {
    if (n == 0) return;  // (an archive's end: its 'n' or 'm' message stays for NextArchive)
    pos_ += n;
    if (pos_ >= static_cast<size_t>(len_)) Release();
  }

 private:
  absl::Status Fetch() {
    if (done_) return absl::OkStatus();
    int len = PQgetCopyData(conn_, &msg_, /*async=*/1);
    while (len == 0) {  // nothing buffered: wait for the server, seeing a cancel meanwhile
      RETURN_IF_ERROR(PgWait(conn_, /*write=*/false, cancelled_));
      if (!PQconsumeInput(conn_)) {
        return absl::UnavailableError(absl::StrCat("COPY: ", PgError(conn_)));
      }
      len = PQgetCopyData(conn_, &msg_, /*async=*/1);
    }
    if (len == -1) {
      done_ = true;
      msg_ = nullptr;
      return absl::OkStatus();
    }
    if (len < 0) return absl::UnavailableError(absl::StrCat("COPY: ", PgError(conn_)));
    len_ = len;
    pos_ = 1;  // past the type byte
    return absl::OkStatus();
  }
  void Release() {
    PQfreemem(msg_);
    msg_ = nullptr;
  }

  PGconn* conn_;
  const std::atomic<bool>* cancelled_;
  char* msg_ = nullptr;
  int len_ = 0;
  size_t pos_ = 0;
  bool done_ = false;
};

absl::StatusOr<mdb_backup::v1::PgShardBackup> BackupShard(const common::ShardConfig& shard,
                                                          const BackupRequest& req) {
  mdb_backup::v1::PgShardBackup out;
  out.set_name(shard.name);
  const common::HostConfig& host = shard.hosts.front();  // the segment's primary
  out.set_host(host.address);
  auto where = [&](absl::string_view what) {  // the context of an error of this shard
    return absl::StrCat("shard '", shard.name, "' (", host.address, ")",
                        what.empty() ? "" : absl::StrCat(": ", what));
  };
  // INCREMENTAL: the parent's file sizes and start position decide which pages are new.
  const mdb_backup::v1::PgShardBackup* parent = nullptr;
  mdb_backup::v1::PgBackup parent_meta;
  FileSizes parent_files;
  Lsn threshold = 0;
  ASSIGN_OR_RETURN(PgConn conn, PgConnect(host, /*replication=*/true, req.cancelled));
  {
    auto exec = PgExec(conn.get(), "IDENTIFY_SYSTEM", req.cancelled);
    if (!exec.ok()) return common::WithContext(exec.status(), where("IDENTIFY_SYSTEM"));
    if (exec->status != PGRES_TUPLES_OK) {
      return absl::UnavailableError(where(absl::StrCat("IDENTIFY_SYSTEM: ", PgError(conn.get()))));
    }
    auto id = exec->SystemIdField(0, 0, "IDENTIFY_SYSTEM");
    auto timeline = exec->TimelineField(0, 1, "IDENTIFY_SYSTEM");
    if (!id.ok() || !timeline.ok()) {
      return common::WithContext(id.ok() ? timeline.status() : id.status(), where(""));
    }
    out.set_system_id(*id);
    out.set_timeline(*timeline);
  }
  if (req.parent && req.repository && parent_meta.ParseFromString(req.parent->engine_metadata())) {
    for (const auto& s : parent_meta.shards()) {
      if (s.name() != shard.name || s.files_stream().empty()) continue;
      // Only on the same history: a cluster restored in place (a new timeline) or a different
      // cluster answering at the address would make the parent's pages the wrong ones.
      if (s.system_id() != out.system_id() || s.timeline() != out.timeline()) break;
      auto start = ParseLsn(s.start_lsn());
      io::StringSink sink;
      if (!start || !req.repository->RestoreStream(*req.parent, s.files_stream(), &sink).ok()) {
        break;  // unreadable: a whole copy instead
      }
      auto parsed = ParseFileSizes(sink.data());
      if (!parsed.ok()) break;
      parent_files = std::move(*parsed);
      threshold = *start;
      parent = &s;
    }
  }
  // Append-optimized tables (Greenplum) carry no page LSN: an INCREMENTAL takes their files
  // whole. Not known: no page is left out anywhere (a whole copy of the shard).
  std::set<std::string> whole;
  if (parent) {
    auto ao = AppendOptimizedRelations(host, req.cancelled);
    if (absl::IsCancelled(ao.status())) return ao.status();
    if (ao.ok()) {
      whole = *std::move(ao);
    } else {
      common::Log(common::LogLevel::kWarning, "greenplum",
                  where(absl::StrCat("append-optimized tables not listed, so the shard is "
                                     "copied whole: ",
                                     ao.status().message())));
      parent = nullptr;
    }
  }
  if (parent) out.set_parent_start_lsn(parent->start_lsn());
  // With the journal on, the slot exists before the copy starts: a segment the journal has not
  // streamed from yet (just added, or a mirror that took over) keeps its WAL from here on until
  // the journal reads it, so the backup's restore point is archived whatever the journal's pace.
  if (common::HostOption(req.cluster->shards.front().hosts.front(), "wal_archive") != "off") {
    const std::string slot = common::HostOption(host, "wal_slot", "mdb_backup");
    auto made =
        PgExec(conn.get(), absl::StrCat("CREATE_REPLICATION_SLOT ", slot, " PHYSICAL RESERVE_WAL"),
               req.cancelled);
    if (!made.ok()) return common::WithContext(made.status(), where("replication slot"));
    if (made->status != PGRES_TUPLES_OK && made->status != PGRES_COMMAND_OK &&
        made->sqlstate != "42710") {  // duplicate_object: the journal made it already
      return absl::FailedPreconditionError(
          where(absl::StrCat("CREATE_REPLICATION_SLOT ", slot, ": ", PgError(conn.get()))));
    }
  }
  RETURN_IF_ERROR(
      common::WithContext(PgSend(conn.get(),
                                 "BASE_BACKUP (LABEL 'mdb-backup', CHECKPOINT 'fast', WAL true, "
                                 "WAIT false, MANIFEST 'no')"),
                          where("BASE_BACKUP")));
  // 1. Start position; 2. tablespaces (only the main data directory is supported); 3. the COPY.
  for (int step = 0; step < 3; ++step) {
    auto next = PgNextResult(conn.get(), req.cancelled);
    if (!next.ok()) return common::WithContext(next.status(), where("BASE_BACKUP"));
    ExecStatusType want = step < 2 ? PGRES_TUPLES_OK : PGRES_COPY_OUT;
    if (!*next || (*next)->status != want) {
      return absl::FailedPreconditionError(where(PgError(conn.get())));
    }
    const PgRows& r = **next;
    if (step == 0) {
      auto start = r.LsnField(0, 0, "BASE_BACKUP");
      auto timeline = r.TimelineField(0, 1, "BASE_BACKUP");
      if (!start.ok() || !timeline.ok()) {
        return common::WithContext(start.ok() ? timeline.status() : start.status(), where(""));
      }
      out.set_start_lsn(FormatLsn(*start));  // our spelling: the source's text is not trusted
      out.set_timeline(*timeline);
    } else if (step == 1) {
      for (const auto& row : r.rows) {
        if (!row.empty() && row[0]) {
          return absl::UnimplementedError(
              where("tablespaces outside the data directory are not supported yet"));
        }
      }
    }
  }
  // 3. The archives.
  ArchiveStream archives(conn.get(), req.cancelled);
  for (;;) {
    ASSIGN_OR_RETURN(std::string name, archives.NextArchive());
    if (name.empty()) break;
    // "base.tar", or "<tablespace oid>.tar": the name becomes part of a repository stream name.
    std::string oid = name.substr(0, name.size() - std::min<size_t>(name.size(), 4));
    if (!absl::EndsWith(name, ".tar") ||
        (oid != "base" &&
         (oid.empty() || oid.size() > 10 || !std::all_of(oid.begin(), oid.end(), ::isdigit)))) {
      return absl::DataLossError(
          where(absl::StrCat("BASE_BACKUP sent an archive named '", name.substr(0, 100), "'")));
    }
    // The tar is rewritten on a second thread into our archive format (only changed pages when
    // INCREMENTAL), which the repository reads through a bounded pipe.
    std::string base = name.substr(0, name.rfind(".tar"));
    std::string stream = absl::StrCat("shard/", shard.name, "/", base, ".mdbarc");
    io::Pipe pipe(4 << 20);
    FileSizes files;
    ArchiveStats stats;
    absl::Status written;
    std::thread writer([&] {
      written = WriteArchive(&archives, parent ? &parent_files : nullptr, threshold, &pipe, &files,
                             &stats, &whole);
      if (!written.ok()) pipe.Abandon();
      pipe.Finish();
    });
    absl::Status st = req.writer->AddStream(stream, &pipe, repo::Chunking::kAtMarks);
    if (!st.ok()) pipe.Abandon();
    writer.join();
    if (st.ok()) st = written;
    if (!st.ok()) return common::WithContext(st, where(""));
    out.add_streams(stream);
    out.set_format("mdbarc");
    out.set_pages_seen(out.pages_seen() + stats.pages_seen);
    out.set_pages_stored(out.pages_stored() + stats.pages_stored);
    out.set_whole_files(out.whole_files() + stats.whole_files);
    out.set_files_stream(absl::StrCat("shard/", shard.name, "/", base, ".files"));
    std::string list = FormatFileSizes(files);
    io::StringSource list_source(list);
    RETURN_IF_ERROR(req.writer->AddStream(out.files_stream(), &list_source));
  }
  // 4. The end position: the backup is consistent once WAL up to here is replayed.
  for (;;) {
    auto next = PgNextResult(conn.get(), req.cancelled);
    if (!next.ok()) return common::WithContext(next.status(), where("BASE_BACKUP end"));
    if (!*next) break;
    ExecStatusType s = (*next)->status;
    if (s == PGRES_TUPLES_OK && !(*next)->rows.empty()) {
      auto end = (*next)->LsnField(0, 0, "BASE_BACKUP");
      if (!end.ok()) return common::WithContext(end.status(), where(""));
      out.set_end_lsn(FormatLsn(*end));
    } else if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
      return absl::UnavailableError(where(PgError(conn.get())));
    }
  }
  if (out.end_lsn().empty()) return absl::DataLossError(where("BASE_BACKUP reported no end"));
  if (parent) {
    common::Log(common::LogLevel::kInfo, "greenplum",
                absl::StrFormat(
                    "segment '%s': %llu of %llu relation pages changed since %s; %llu "
                    "append-optimized relation files taken whole",
                    shard.name.c_str(), static_cast<unsigned long long>(out.pages_stored()),
                    static_cast<unsigned long long>(out.pages_seen()), parent->start_lsn().c_str(),
                    static_cast<unsigned long long>(out.whole_files())));
  }
  return out;
}

}  // namespace

absl::StatusOr<BackupResult> GreenplumDriver::Backup(const BackupRequest& request) {
  // A cluster declared by its coordinator: the segments it lists now.
  ASSIGN_OR_RETURN(const common::ClusterConfig cluster,
                   ResolveSegments(*request.cluster, request.cancelled));
  BackupRequest req = request;
  req.cluster = &cluster;
  const auto& shards = cluster.shards;
  ASSIGN_OR_RETURN(auto segments, BackupEachShard<mdb_backup::v1::PgShardBackup>(
                                      cluster, [&](const common::ShardConfig& shard) {
                                        return BackupShard(shard, req);
                                      }));
  mdb_backup::v1::PgBackup meta;
  if (DiscoversSegments(*request.cluster)) meta.set_layout("gp_segment_configuration");
  BackupResult result;
  result.whole = true;  // unless a shard took pages from the parent
  for (size_t i = 0; i < segments.size(); ++i) {
    auto& segment = segments[i];
    result.shard_names.push_back(segment.name());
    if (!segment.parent_start_lsn().empty()) result.whole = false;
    if (auto content = ContentOf(shards[i].hosts.front())) {
      segment.set_content_id(*content);
      segment.set_promoted_mirror(common::HostOption(shards[i].hosts.front(), "gp_promoted") ==
                                  "true");
    }
    *meta.add_shards() = std::move(segment);
  }
  // One named restore point on every segment once all are done: the cluster-wide consistent
  // point for a later point-in-time restore (cut.h).
  // (end_lsn is our own spelling of a parsed position: the name goes into SQL on every segment.)
  meta.set_restore_point(absl::StrCat("mdb-backup-", meta.shards(0).end_lsn()));
  for (int i = 0; i < meta.shards_size(); ++i) {
    // The relations as of (just before) the restore point: what a drill finds restored. Best
    // effort: a database refusing the connection costs the facts, not the backup.
    auto relations = ListRelations(shards[i].hosts.front(), req.cancelled);
    if (relations.ok()) {
      const std::string stream = absl::StrCat("shard/", shards[i].name, "/relations");
      io::StringSource list(FormatRelations(*relations));
      RETURN_IF_ERROR(req.writer->AddStream(stream, &list));
      meta.mutable_shards(i)->set_relations_stream(stream);
    } else if (absl::IsCancelled(relations.status())) {
      return relations.status();
    } else {
      common::Log(common::LogLevel::kWarning, "greenplum",
                  absl::StrCat("segment '", shards[i].name, "': relations not listed for drills: ",
                               relations.status().message()));
    }
    ASSIGN_OR_RETURN(PgConn conn,
                     PgConnect(shards[i].hosts.front(), /*replication=*/false, req.cancelled));
    // Who a drill connects to the restored copy as.
    if (auto su = PgExec(conn.get(), "SELECT rolname FROM pg_catalog.pg_roles WHERE oid = 10",
                         req.cancelled);
        su.ok() && su->status == PGRES_TUPLES_OK) {
      if (auto name = su->Field(0, 0, "the superuser's name"); name.ok()) {
        meta.mutable_shards(i)->set_superuser(*name);
      }
    }
  }
  RETURN_IF_ERROR(MakeRestorePoint(cluster, &meta, req.cancelled));
  result.metadata = meta.SerializeAsString();
  return result;
}

}  // namespace mdb::engine::greenplum
