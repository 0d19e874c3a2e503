// One thread per shard: connect (replication=true), make sure the slot exists, start streaming at
// the segment that holds the slot's restart position, fill a segment buffer from XLogData
// messages, and commit each complete segment as a piece of the journal store
// (repo/journal_store.h), named "<system id>.<file name>". Errors (server down, store failing)
// are logged and retried with backoff: the slot keeps the WAL.
#include "engine/greenplum/wal_stream.h"

#include <libpq-fe.h>
#include <poll.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "engine/greenplum/pg_conn.h"
#include "engine/greenplum/wal_messages.h"

namespace mdb::engine::greenplum {
namespace {

// Microseconds since 2000-01-01, the replication protocol's clock.
int64_t PgNow() { return absl::ToUnixMicros(absl::Now()) - 946684800000000LL; }

void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A command on the replication connection; stopping the journal interrupts it.
absl::StatusOr<PgRows> Exec(PGconn* conn, const std::string& sql, const std::atomic<bool>* stop) {
  ASSIGN_OR_RETURN(PgRows r, PgExec(conn, sql, stop));
  if (r.status != PGRES_TUPLES_OK && r.status != PGRES_COMMAND_OK) {
    std::string msg = absl::StrCat(sql.substr(0, 40), ": ", PgError(conn));
    if (r.sqlstate == "42710") return absl::AlreadyExistsError(msg);
    return absl::UnavailableError(msg);
  }
  return r;
}

}  // namespace

WalJournal::WalJournal(const JournalOptions& options)
    : options_(options), cluster_(*options.cluster) {
  options_.cluster = &cluster_;
  for (size_t i = 0; i < cluster_.shards.size(); ++i) {
    threads_.emplace_back([this, i] { Run(i); });
  }
}

WalJournal::~WalJournal() {
  stop_ = true;
  for (auto& t : threads_) t.join();
}

void WalJournal::Run(size_t shard) {
  absl::Duration backoff = absl::Seconds(1);
  while (!stop_) {
    absl::Time began = absl::Now();
    absl::Status st = StreamOnce(shard);
    if (stop_) break;
    if (absl::Now() - began > absl::Minutes(1)) backoff = absl::Seconds(1);  // it was healthy
    if (options_.log) {
      options_.log(absl::StrCat("WAL archiving of cluster '", cluster_.id, "' shard '",
                                cluster_.shards[shard].name, "': ", st.message(), "; retrying in ",
                                absl::FormatDuration(backoff)));
    }
    for (absl::Time until = absl::Now() + backoff; !stop_ && absl::Now() < until;) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    backoff = std::min(backoff * 2, absl::Seconds(30));
  }
}

absl::Status WalJournal::Commit(const common::ShardConfig& shard, const std::string& system_id,
                                uint32_t timeline, Lsn segment_start, std::string segment) {
  const uint64_t segment_size = segment.size();
  std::string file = WalFileName(timeline, segment_start, segment_size);
  // The system id in the name: a different cluster answering at the same address (a new initdb)
  // reuses WAL file names, and its segments must not be taken as already archived.
  // Its last commit's time, for point-in-time targets and the restorable window's end.
  SegmentSummary summary = SummarizeSegment(segment, segment_start);
  auto put = options_.journal->Put(cluster_.id, shard.name,
                                   PieceName(system_id, file, std::nullopt, &summary),
                                   segment_start, segment_start + segment_size, segment);
  if (absl::IsAlreadyExists(put.status())) return absl::OkStatus();
  if (!put.ok()) return put.status();  // the slot keeps the WAL: streamed again
  if (options_.on_piece) {
    options_.on_piece({.shard = shard.name,
                       .object = put->key,
                       .start = segment_start,
                       .end = segment_start + segment_size,
                       .stored_bytes = put->stored_bytes});
  }
  return absl::OkStatus();
}

absl::Status WalJournal::StreamOnce(size_t index) {
  const common::ShardConfig& shard = cluster_.shards[index];
  const common::HostConfig& host = shard.hosts.front();
  auto opt = [&](const char* k, const char* d) {
    auto it = host.options.find(k);
    return it == host.options.end() ? std::string(d) : it->second;
  };
  const std::string slot = opt("wal_slot", "mdb_backup");
  ASSIGN_OR_RETURN(PgConn conn, PgConnect(host, /*replication=*/true, &stop_));
  ASSIGN_OR_RETURN(PgRows seg, Exec(conn.get(), "SHOW wal_segment_size", &stop_));
  // "16MB": PostgreSQL reports it with a unit; it allows 1 MB to 1 GB, powers of two.
  ASSIGN_OR_RETURN(std::string seg_text, seg.Field(0, 0, "SHOW wal_segment_size"));
  uint64_t segment_size = std::strtoull(seg_text.c_str(), nullptr, 10);
  if (seg_text.find("GB") != std::string::npos)
    segment_size <<= 30;
  else if (seg_text.find("MB") != std::string::npos)
    segment_size <<= 20;
  if (segment_size < (1 << 20) || segment_size > (1 << 30) ||
      (segment_size & (segment_size - 1)) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("unexpected wal_segment_size ", seg_text.substr(0, 40)));
  }
  auto created = Exec(
      conn.get(), absl::StrCat("CREATE_REPLICATION_SLOT ", slot, " PHYSICAL RESERVE_WAL"), &stop_);
  if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
  ASSIGN_OR_RETURN(PgRows rs,
                   Exec(conn.get(), absl::StrCat("READ_REPLICATION_SLOT ", slot), &stop_));
  ASSIGN_OR_RETURN(PgRows id, Exec(conn.get(), "IDENTIFY_SYSTEM", &stop_));
  ASSIGN_OR_RETURN(const std::string system_id, id.SystemIdField(0, 0, "IDENTIFY_SYSTEM"));
  ASSIGN_OR_RETURN(uint32_t timeline, id.TimelineField(0, 1, "IDENTIFY_SYSTEM"));
  auto restart = rs.LsnField(0, 1, "READ_REPLICATION_SLOT");
  if (!restart.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the replication slot has no usable restart_lsn: ", restart.status().message()));
  }
  Lsn start = *restart - *restart % segment_size;
  std::string start_cmd = absl::StrCat("START_REPLICATION SLOT ", slot, " PHYSICAL ",
                                       FormatLsn(start), " TIMELINE ", timeline);
  ASSIGN_OR_RETURN(PgRows copy, PgExec(conn.get(), start_cmd, &stop_));
  if (copy.status != PGRES_COPY_BOTH) {
    return absl::UnavailableError(absl::StrCat("START_REPLICATION: ", PgError(conn.get())));
  }
  SegmentAssembler segments(start, segment_size);
  Lsn confirmed = start;
  auto send_status = [&](bool reply) -> absl::Status {
    std::string msg = "r";
    PutU64(&msg, confirmed);  // written
    PutU64(&msg, confirmed);  // flushed: only what is committed to the repository
    PutU64(&msg, 0);          // applied: nothing
    PutU64(&msg, static_cast<uint64_t>(PgNow()));
    msg.push_back(reply ? 1 : 0);
    if (PQputCopyData(conn.get(), msg.data(), static_cast<int>(msg.size())) != 1 ||
        PQflush(conn.get()) != 0) {
      return absl::UnavailableError(absl::StrCat("status update: ", PgError(conn.get())));
    }
    return absl::OkStatus();
  };
  absl::Time last_status = absl::Now();
  while (!stop_) {
    char* msg = nullptr;
    int len = PQgetCopyData(conn.get(), &msg, /*async=*/1);
    if (len == 0) {  // nothing yet: wait for the socket, at most a second
      if (absl::Now() - last_status > absl::Seconds(10)) {
        RETURN_IF_ERROR(send_status(false));
        last_status = absl::Now();
      }
      pollfd p{PQsocket(conn.get()), POLLIN, 0};
      poll(&p, 1, 1000);
      if (!PQconsumeInput(conn.get())) {
        return absl::UnavailableError(absl::StrCat("stream: ", PgError(conn.get())));
      }
      continue;
    }
    if (len == -1)
      return absl::UnavailableError("the server ended the WAL stream (timeline switch?)");
    if (len < 0) return absl::UnavailableError(absl::StrCat("stream: ", PgError(conn.get())));
    std::unique_ptr<char, decltype(&PQfreemem)> holder(msg, PQfreemem);
    ASSIGN_OR_RETURN(WalMessage m, ParseWalMessage(absl::string_view(msg, len)));
    if (m.kind == WalMessage::Kind::kKeepalive && m.reply_requested) {
      RETURN_IF_ERROR(send_status(false));
    }
    if (m.kind != WalMessage::Kind::kData) continue;
    RETURN_IF_ERROR(segments.Add(m.start, m.data, [&](Lsn segment_start, std::string segment) {
      // A complete segment: commit it, then let the server recycle it.
      RETURN_IF_ERROR(Commit(shard, system_id, timeline, segment_start, std::move(segment)));
      confirmed = segment_start + segment_size;
      RETURN_IF_ERROR(send_status(false));
      last_status = absl::Now();
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

}  // namespace mdb::engine::greenplum
