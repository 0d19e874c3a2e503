// The catalog: an index of committed backups and of operations, answering the API's questions fast.
// All SQL lives behind this interface: SQLite (the embedded default, sqlite_catalog.cc) and
// PostgreSQL (postgres_catalog.cc), both held to one conformance suite.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mdb_backup/v1/records.pb.h"
#include "yandex/cloud/operation/operation.pb.h"

namespace mdb::catalog {

using BackupRecord = ::mdb_backup::v1::BackupRecord;
using Engine = ::mdb_backup::v1::Engine;
using Operation = ::yandex::cloud::operation::Operation;

// Names a stored record's bytes (DigestOf below).
using RecordDigest = std::array<char, 16>;

// One list walk: the backups of one engine in one folder, or of one cluster.
struct ListQuery {
  Engine engine = Engine::ENGINE_UNSPECIFIED;
  // The backups of a folder (folder_id alone), of a cluster (cluster_id alone), or of a cluster
  // recorded in one folder (both: what the API shows of a cluster, whose folder in the config may
  // have changed, or whose id a cluster of another folder reused).
  std::string folder_id;
  std::string cluster_id;
  int page_size = 100;     // 1..1000; the caller maps the API's 0 to its default
  std::string page_token;  // empty for the first page, else a next_page_token of the same walk
  // The records as stored (ListPage.records) rather than parsed, with their digests: for a caller
  // that keeps its own view of each record by those bytes (the API's List), parsing is most of
  // a page's cost.
  bool unparsed = false;
  // With `unparsed`, by a catalog that keeps digests in its index (SQLite): asked of each listed
  // record's digest, once and in page order; a record it answers true for (the caller holds its
  // view) comes back as "" in ListPage.records, unread. A catalog that reads every record with
  // the page (PostgreSQL: one round trip either way) does not ask.
  std::function<bool(const RecordDigest& digest)> known;
};

struct ListPage {
  std::vector<BackupRecord> backups;  // newest first
  std::vector<std::string> records;   // the same, serialized as stored: ListQuery.unparsed only
  std::vector<RecordDigest> digests;  // DigestOf each of them: ListQuery.unparsed only
  std::string next_page_token;        // empty on the last page
};

// What names a stored record's bytes in ListPage.digests: BLAKE2b-128 of them (equal digests,
// equal bytes: a caller may key what it derives from a record by it).
RecordDigest DigestOf(std::string_view record);

struct OperationRecord {
  Operation operation;
  std::string folder_id;  // callers that may read this folder may read the operation
  // The cluster it acts on (its metadata's cluster_id; "" for none): ClusterService.
  // ListOperations. Written when the row is inserted, never changed.
  std::string cluster_id;
  // The instance running it, and until when it vouches for it (renewed by its heartbeat). An
  // unfinished operation whose lease has run out belongs to a dead instance: a survivor ends it.
  std::string owner;
  absl::Time lease_until = absl::InfinitePast();
  bool cancel_requested = false;  // by a Cancel on any instance; the owner acts on it
  // What to run (an ops task, opaque here) when any instance may run it. Such an operation is
  // queued while it has no owner (and a lease that never ends, so that instances of versions
  // before queues, which end expired operations, leave it alone); ClaimOperation gives it one.
  // Empty for work only the instance that started it can run.
  std::string request;
};

// One page of a cluster's operations (ClusterService.ListOperations).
struct OperationQuery {
  std::string cluster_id;
  int page_size = 100;     // 1..1000
  std::string page_token;  // empty for the first page, else a next_page_token of the same walk
};

struct OperationPage {
  std::vector<OperationRecord> operations;  // newest first
  std::string next_page_token;              // empty on the last page
};

// What renewing an operation's lease found.
struct OperationLease {
  bool held = false;              // false: finished, or taken over after the lease ran out
  bool cancel_requested = false;  // someone asked to cancel it
};

// Held while one process is the catalog's only user; released when destroyed (or when the
// process dies).
class ExclusiveUse {
 public:
  virtual ~ExclusiveUse() = default;
};

// Thread-safe: every method may be called from any thread at any time.
class Catalog {
 public:
  virtual ~Catalog() = default;

  // Inserts a committed backup, or replaces the one with the same id (its list position is kept).
  [[nodiscard]] virtual absl::Status PutBackup(const BackupRecord& backup) = 0;

  // PutBackup for many records in one transaction: all or none are stored (import, reindex).
  [[nodiscard]] virtual absl::Status PutBackups(const std::vector<BackupRecord>& backups) = 0;

  // Returns the backup with `id`; NotFound if there is none.
  virtual absl::StatusOr<BackupRecord> GetBackup(const std::string& id) = 0;

  // One page of a walk, newest first by created_at (ties: later insert first). Keyset-paginated,
  // so a walk returns no backup twice and skips none that existed for the whole walk, while
  // others are inserted and deleted. InvalidArgument for a token this catalog did not issue for
  // the same engine and folder/cluster (tampered, truncated or from another walk).
  virtual absl::StatusOr<ListPage> ListBackups(const ListQuery& query) = 0;
  // Optional. A version of the backup records: another one after every committed change to
  // them, whoever made it (this process, another one, an edit by hand), at far less cost than a
  // page: a caller may keep what it derived from listings for as long as it reads the same
  // version (the API keeps whole pages of List). A listing read after the version was read
  // shows at least what that version names. nullopt when the catalog cannot tell at that cost
  // (the default; on PostgreSQL it would take a round trip, as the listing does).
  virtual absl::StatusOr<std::optional<int64_t>> BackupsVersion() { return std::nullopt; }

  // The ids of every backup, in no order (verify and reconcile compare them with a repository).
  virtual absl::StatusOr<std::vector<std::string>> ListAllBackupIds() = 0;
  // Changes the record of a backup that exists by `change` (its id, engine, folder, cluster and
  // created_at must stay as they are: journal sizes, a verification), read and written in one
  // transaction, so that two writers of different fields (the journal's accounting and a drill,
  // on one instance or two) never lose each other's update. NotFound, and nothing written, when
  // it is gone: unlike PutBackup it never brings back a backup deleted meanwhile. An error from
  // `change` leaves the record as it was. `change` may run more than once (a retry on a new
  // connection), each time on the record as stored.
  [[nodiscard]] virtual absl::Status ModifyBackup(
      const std::string& id, const std::function<absl::Status(BackupRecord*)>& change) = 0;
  // Removes the backup; NotFound if there is none.
  [[nodiscard]] virtual absl::Status DeleteBackup(const std::string& id) = 0;

  // Inserts an operation, or replaces it while it is unfinished and still `op.owner`'s: a call
  // retried after its reply was lost never takes back a row another instance claimed meanwhile.
  [[nodiscard]] virtual absl::Status PutOperation(const OperationRecord& op) = 0;

  // Returns the operation with `id`; NotFound if there is none.
  virtual absl::StatusOr<OperationRecord> GetOperation(const std::string& id) = 0;

  // The operations of a cluster, newest first by created_at (ties: later insert first),
  // keyset-paginated like ListBackups (tokens bound to the cluster). Operations stored before
  // schema version 4 have no cluster and are not listed.
  virtual absl::StatusOr<OperationPage> ListClusterOperations(const OperationQuery& query) = 0;

  // Operations that are not done, oldest first: what a restarted service must resume or fail.
  virtual absl::StatusOr<std::vector<OperationRecord>> ListUnfinishedOperations() = 0;

  // Several instances on one catalog (catalog/leases.md has the protocol):
  // Stores `op`'s body (its progress) and extends its lease to `op.lease_until`, if it is still
  // unfinished and `op.owner`'s.
  virtual absl::StatusOr<OperationLease> RenewOperation(const OperationRecord& op) = 0;
  // Writes `op` (done) if the row is still unfinished and `op.owner`'s, and, with `expired_at`
  // set, only if its lease ended before then (a survivor ending a dead instance's operation
  // loses to a renewal). False when it was not written.
  virtual absl::StatusOr<bool> FinishOperation(
      const OperationRecord& op, std::optional<absl::Time> expired_at = std::nullopt) = 0;
  // Gives the oldest queued operation (no owner, a request) to `owner` until `until`; nullopt
  // when none is queued. Concurrent claims never hand one operation to two owners.
  // A claim retried after its reply was lost returns the row the first try took (the owner and
  // `until` name it).
  virtual absl::StatusOr<std::optional<OperationRecord>> ClaimOperation(const std::string& owner,
                                                                        absl::Time until) = 0;
  // Puts an unfinished operation `owner` claimed but did not start back in the queue (its
  // instance is stopping). False when it is not `owner`'s (done, or claimed by another).
  virtual absl::StatusOr<bool> ReleaseOperation(const std::string& id,
                                                const std::string& owner) = 0;
  // Marks the operation for cancellation by its owner. NotFound; FailedPrecondition when done.
  [[nodiscard]] virtual absl::Status RequestCancel(const std::string& id) = 0;

  // A named lease (one instance runs GC, one archives a cluster's journal, one takes a day's
  // automated backup): true when `owner` holds `name` until `until` after the call, because it
  // was free, had ended before `now`, or was `owner`'s already (then renewed).
  virtual absl::StatusOr<bool> TryLease(const std::string& name, const std::string& owner,
                                        absl::Time now, absl::Time until) = 0;
  // Gives it up if `owner` holds it.
  [[nodiscard]] virtual absl::Status ReleaseLease(const std::string& name,
                                                  const std::string& owner) = 0;
  // Gives up every lease `owner` holds whose name starts with `prefix`: a shutdown's hand-back,
  // one statement however many clusters (with the catalog away, one wait instead of one each).
  [[nodiscard]] virtual absl::Status ReleaseLeases(const std::string& prefix,
                                                   const std::string& owner) = 0;

  // Exclusive use of the catalog by this process: mdb-backupd takes it before it fails the
  // operations a previous process left unfinished (a second process on the catalog would fail
  // the first one's), `catalog rebuild` before it writes rows back. FailedPrecondition naming
  // the holder when another process has it.
  virtual absl::StatusOr<std::unique_ptr<ExclusiveUse>> AcquireExclusiveUse() = 0;
  // Use beside other instances (mdb-backupd on a shared catalog): refused while a process has
  // exclusive use (catalog rebuild, or a version that ran alone), and keeps one from taking it.
  // Catalogs that serve one process only take exclusive use.
  virtual absl::StatusOr<std::unique_ptr<ExclusiveUse>> AcquireSharedUse() {
    return AcquireExclusiveUse();
  }
};

// Opens (creating and migrating as needed) the SQLite catalog at `path`. The file is in WAL mode
// with full fsync, so a committed change survives a crash of the process or the machine.
absl::StatusOr<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path);

// Opens (creating the tables and migrating as needed) the catalog in the PostgreSQL database
// that `conninfo` names: a libpq connection string or URI ("postgresql://user@host/db"); the
// password from its `passfile`, ~/.pgpass or PGPASSWORD/PGPASSFILE, as libpq reads them.
absl::StatusOr<std::unique_ptr<Catalog>> OpenPostgresCatalog(const std::string& conninfo);

// The catalog a config's `catalog` names: a postgresql:// (or postgres://) URI, else an SQLite
// file path.
absl::StatusOr<std::unique_ptr<Catalog>> OpenCatalog(const std::string& location);
bool IsPostgresLocation(const std::string& location);

}  // namespace mdb::catalog
