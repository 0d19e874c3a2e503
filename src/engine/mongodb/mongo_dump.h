// The steps of a shard's backup and restore (mongo_backup.cc, mongo_restore.cc), which a sharded
// cluster read through its router (mongo_sharded.cc) puts together in its own order.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "engine/engine.h"
#include "engine/mongodb/mongo_conn.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::mongodb {

// Backup (mongo_backup.cc).

// The member of a shard to read: a secondary first, then the primary or a standalone server.
struct Member {
  std::unique_ptr<MongoConn> conn;
  ServerInfo info;
};
absl::StatusOr<Member> PickMember(const common::ShardConfig& shard,
                                  const std::atomic<bool>* cancelled);
// Whether the server keeps an oplog (local.oplog.rs).
absl::StatusOr<bool> HasOplog(MongoConn* conn);
// The ts of the newest (newest = true) or oldest oplog entry; 0 when the oplog is empty.
absl::StatusOr<uint64_t> OplogEdge(MongoConn* conn, bool newest);
// Every collection and view of `db`, into streams under out->name(), recorded in `out`.
absl::Status BackupDatabase(MongoConn* conn, const std::string& db,
                            mdb_backup::v1::MongoShardBackup* out, const BackupRequest& req);
// The oplog entries with out->oplog_start() < ts <= out->oplog_end(), into out's journal stream.
absl::Status BackupOplog(MongoConn* conn, mdb_backup::v1::MongoShardBackup* out,
                         const BackupRequest& req);
// Users and roles (admin.system.roles, admin.system.users) into out->auth(); a server that
// refuses to list them fails it (PermissionDenied, naming `users: "false"`).
absl::Status BackupUsers(MongoConn* conn, mdb_backup::v1::MongoShardBackup* out,
                         const BackupRequest& req);
// FailedPrecondition when the window (out->oplog_start(), oplog_end()] holds what a restore could
// not replay: a large or prepared transaction; for a shard of a sharded cluster, any command
// other than a committed transaction. Checked at backup, so that no unrestorable backup is made.
absl::Status CheckReplayable(MongoConn* conn, const mdb_backup::v1::MongoShardBackup& window,
                             bool sharded);
// Every document of db.name, as it is, into a stream under `shard`.
absl::StatusOr<mdb_backup::v1::MongoCollection> DumpWhole(MongoConn* conn, const std::string& db,
                                                          const std::string& name,
                                                          const std::string& shard,
                                                          const BackupRequest& req);

// Restore (mongo_restore.cc).

// Each document of a stream of the backup, with bounded memory.
absl::Status ForEachStoredDocument(const RestoreRequest& req, const std::string& stream,
                                   const std::function<absl::Status(std::string_view)>& each);
// A collection made with its recorded options, filled, read back against its digest, indexed.
absl::Status RestoreCollection(const RestoreRequest& req, MongoConn* conn,
                               const mdb_backup::v1::MongoCollection& c,
                               const std::function<absl::Status()>& before_load = nullptr);
// A view (or a collection made with its options and nothing else).
absl::Status CreateCollection(MongoConn* conn, const mdb_backup::v1::MongoCollection& c);
// Roles, then users; the target's own are kept.
absl::Status RestoreUsers(const RestoreRequest& req, MongoConn* conn,
                          const mdb_backup::v1::MongoShardBackup& shard);

}  // namespace mdb::engine::mongodb
