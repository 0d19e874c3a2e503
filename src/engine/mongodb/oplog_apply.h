// Replaying oplog entries on a restored server. A server that has `applyOps` (mongod) applies
// its own entries, which covers every entry format; otherwise each entry is turned into the
// equivalent insert/update/delete/command (PlanEntry), which covers documents written by
// inserts, replacements, classic update operators and v2 deltas (oplog_delta.h), deletes, and
// collection commands. A user without the applyOps privilege (the built-in `restore` role) gets
// the same planned replay.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/mongodb/mongo_conn.h"

namespace mdb::engine::mongodb {

// What one oplog entry asks for, in terms of ordinary commands.
struct OplogStep {
  enum Kind { kSkip, kUpsert, kUpdate, kReplace, kDelete, kCommand } kind = kSkip;
  std::string db, collection;
  Bson filter;                // {_id: ...} for upsert/update/replace/delete
  Bson doc;                   // the document (upsert, replace), command
  std::vector<Bson> updates;  // update operators, applied in this order (update)
};

// A sharded cluster's entries replayed through its router (mongos): by "db.collection", the
// shard key fields of each sharded collection. They go into the filters, since a router sends a
// single-document write to the shard its key names; and entries a chunk migration wrote
// (`fromMigrate`) are moves, not changes, and are skipped.
using ShardKeys = std::map<std::string, std::vector<std::string>>;

// Plans an entry; InvalidArgument for an entry it cannot express (naming the op), Skip for no-ops
// and entries of the server's own databases.
absl::StatusOr<OplogStep> PlanEntry(std::string_view entry, const ShardKeys* routed = nullptr);

class OplogApplier {
 public:
  // `routed`: the entries go through a router, which has no applyOps.
  explicit OplogApplier(MongoConn* conn, const ShardKeys* routed = nullptr)
      : conn_(conn), routed_(routed), use_apply_ops_(routed ? 0 : -1) {}
  absl::Status Apply(std::string_view entry);
  uint64_t applied() const { return applied_; }
  // Updates that did not fit the document as the dump read it (a later entry changed it).
  uint64_t passed_over() const { return passed_over_; }

 private:
  absl::Status ApplyStep(const OplogStep& step);
  MongoConn* conn_;
  const ShardKeys* routed_;
  int use_apply_ops_;  // unknown until the first entry: -1, then 0 or 1
  uint64_t applied_ = 0;
  uint64_t passed_over_ = 0;
};

}  // namespace mdb::engine::mongodb
