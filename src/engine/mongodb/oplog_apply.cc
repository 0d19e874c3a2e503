#include "engine/mongodb/oplog_apply.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "engine/mongodb/mongo_util.h"
#include "engine/mongodb/oplog_delta.h"

namespace mdb::engine::mongodb {
namespace {

bool IsSystemDb(const std::string& db) { return db == "admin" || db == "local" || db == "config"; }

// Copies the `_id` field of `from` into a new {_id: ...} document.
bool IdFilter(const bson_t* from, Bson* out) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, from, "_id")) return false;
  bson_append_iter(out->get(), "_id", 3, &it);
  return true;
}

// No-ops, and entries of the server's own state.
bool Skipped(const bson_t* e) {
  std::string op = GetString(e, "op"), ns = GetString(e, "ns");
  size_t dot = ns.find('.');
  std::string db = ns.substr(0, dot);
  std::string coll = dot == std::string::npos ? "" : ns.substr(dot + 1);
  return op == "n" || op.empty() || IsSystemDb(db) || coll.rfind("system.", 0) == 0;
}

}  // namespace

absl::StatusOr<OplogStep> PlanEntry(std::string_view entry, const ShardKeys* routed) {
  ASSIGN_OR_RETURN(Bson e, Bson::FromBytes(entry));
  OplogStep step;
  std::string op = GetString(e.get(), "op");
  std::string ns = GetString(e.get(), "ns");
  size_t dot = ns.find('.');
  step.db = ns.substr(0, dot);
  if (dot != std::string::npos) step.collection = ns.substr(dot + 1);
  if (Skipped(e.get())) return step;
  bson_iter_t migrate;
  if (routed && bson_iter_init_find(&migrate, e.get(), "fromMigrate") &&
      bson_iter_as_bool(&migrate)) {
    return step;  // a chunk moving between shards: the data is the same
  }
  auto key = routed ? routed->find(ns) : ShardKeys::const_iterator();
  const bool sharded = routed && key != routed->end();
  Bson o, o2;
  if (!GetDocument(e.get(), "o", &o)) {
    return absl::InvalidArgumentError(
        absl::StrCat("oplog entry '", op, "' on '", ns, "' has no 'o' document"));
  }
  bool has_o2 = GetDocument(e.get(), "o2", &o2);
  if (op == "i") {
    step.kind = OplogStep::kUpsert;
    if (!IdFilter(o.get(), &step.filter)) {
      return absl::InvalidArgumentError(absl::StrCat("insert on '", ns, "' without an _id"));
    }
    for (const std::string& field : sharded ? key->second : std::vector<std::string>{}) {
      bson_iter_t it, value;
      if (field == "_id") continue;
      if (!bson_iter_init(&it, o.get()) || !bson_iter_find_descendant(&it, field.c_str(), &value)) {
        // A document without a key field is routed as if it held null: so is its filter (an
        // upsert through a router needs the whole shard key).
        bson_append_null(step.filter.get(), field.c_str(), field.size());
        continue;
      }
      bson_append_iter(step.filter.get(), field.c_str(), field.size(), &value);
    }
    step.doc = o;
  } else if (op == "d") {
    step.kind = OplogStep::kDelete;
    if (sharded && bson_has_field(o.get(), "_id")) {
      step.filter = o;  // the document key: _id and the shard key
    } else if (!IdFilter(o.get(), &step.filter)) {
      return absl::InvalidArgumentError(absl::StrCat("delete on '", ns, "' without an _id"));
    }
  } else if (op == "u") {
    if (!has_o2 || !IdFilter(o2.get(), &step.filter)) {
      return absl::InvalidArgumentError(absl::StrCat("update on '", ns, "' without o2._id"));
    }
    if (sharded) step.filter = o2;  // the document key: _id and the shard key
    bson_iter_t it;
    bool operators =
        bson_iter_init(&it, o.get()) && bson_iter_next(&it) && bson_iter_key(&it)[0] == '$';
    step.kind = operators ? OplogStep::kUpdate : OplogStep::kReplace;
    Bson diff;
    if (operators && GetDocument(o.get(), "diff", &diff)) {  // MongoDB 5+: a "$v: 2" delta
      auto updates = DeltaToUpdates(diff.get());
      if (!updates.ok()) return common::WithContext(updates.status(), absl::StrCat("'", ns, "'"));
      step.updates = *std::move(updates);
    } else if (operators) {
      Bson update;
      if (!CopyExcept(o.get(), update.get(), {"$v"})) {
        return absl::DataLossError(absl::StrCat("update on '", ns, "' is malformed"));
      }
      step.updates.push_back(std::move(update));
    } else {
      step.doc = o;
    }
  } else if (op == "c") {
    step.kind = OplogStep::kCommand;
    step.doc = o;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("oplog entry with op '", op, "' on '", ns, "' cannot be replayed"));
  }
  return step;
}

absl::Status OplogApplier::ApplyStep(const OplogStep& step) {
  if (step.kind == OplogStep::kSkip) return absl::OkStatus();
  if (step.kind == OplogStep::kCommand) {
    // Entries from during the dump may repeat what the dump already holds (a collection created
    // then copied): replay is idempotent where the outcome is the same.
    absl::Status st = conn_->Command(step.db, step.doc.get()).status();
    if (absl::IsAlreadyExists(st) || absl::IsNotFound(st)) return absl::OkStatus();
    return st;
  }
  Collection coll(
      mongoc_client_get_collection(conn_->client(), step.db.c_str(), step.collection.c_str()));
  bson_error_t error;
  bool ok = false;
  std::string what = absl::StrCat("replaying the journal on '", step.db, ".", step.collection, "'");
  Bson opts;  // replacements are documents the server wrote: no client-side validation
  BSON_APPEND_BOOL(opts.get(), "validate", false);
  switch (step.kind) {
    case OplogStep::kUpsert:
      BSON_APPEND_BOOL(opts.get(), "upsert", true);
      ok = mongoc_collection_replace_one(coll.get(), step.filter.get(), step.doc.get(), opts.get(),
                                         nullptr, &error);
      break;
    case OplogStep::kReplace:
      ok = mongoc_collection_replace_one(coll.get(), step.filter.get(), step.doc.get(), opts.get(),
                                         nullptr, &error);
      break;
    case OplogStep::kUpdate:
      ok = true;
      for (const Bson& update : step.updates) {
        ok = mongoc_collection_update_one(coll.get(), step.filter.get(), update.get(), nullptr,
                                          nullptr, &error);
        // An entry from before the dump read the document may not fit what was read (a later
        // entry changed a field's type): as mongod's own oplog application does when it
        // replays over newer data, the entry is passed over; the later entry that explains the
        // difference follows in the window. (BadValue, TypeMismatch, PathNotViable.)
        if (!ok && error.domain == MONGOC_ERROR_SERVER &&
            (error.code == 2 || error.code == 14 || error.code == 28)) {
          ++passed_over_;
          ok = true;
          continue;
        }
        if (!ok) break;
      }
      break;
    case OplogStep::kDelete:
      ok = mongoc_collection_delete_one(coll.get(), step.filter.get(), nullptr, nullptr, &error);
      break;
    default:
      break;
  }
  return ok ? absl::OkStatus() : conn_->Error(error, what);
}

absl::Status OplogApplier::Apply(std::string_view entry) {
  {
    // Transactions: a committed multi-document transaction is one command entry on admin.$cmd
    // holding its operations in o.applyOps; each is replayed like a top-level entry. Large or
    // prepared transactions (partialTxn / commitTransaction chains) are refused loudly rather
    // than dropped.
    ASSIGN_OR_RETURN(Bson e, Bson::FromBytes(entry));
    Bson o, inner;
    if (GetString(e.get(), "op") == "c" && GetDocument(e.get(), "o", &o)) {
      bson_iter_t it;
      for (const char* txn : {"partialTxn", "prepare", "commitTransaction", "abortTransaction"}) {
        if (bson_iter_init_find(&it, o.get(), txn)) {
          return absl::UnimplementedError(
              absl::StrCat("the oplog window holds a large or prepared transaction ('", txn,
                           "'), which this version cannot replay; take the backup again"));
        }
      }
      if (GetDocument(o.get(), "applyOps", &inner)) {
        bson_iter_t ops;
        if (!bson_iter_init(&ops, inner.get())) return absl::DataLossError("bad applyOps entry");
        while (bson_iter_next(&ops)) {
          if (!BSON_ITER_HOLDS_DOCUMENT(&ops)) continue;
          uint32_t len;
          const uint8_t* data;
          bson_iter_document(&ops, &len, &data);
          RETURN_IF_ERROR(Apply(std::string_view(reinterpret_cast<const char*>(data), len)));
        }
        return absl::OkStatus();
      }
    }
  }
  if (use_apply_ops_ != 0) {
    ASSIGN_OR_RETURN(Bson e, Bson::FromBytes(entry));
    if (Skipped(e.get())) return absl::OkStatus();
    Bson cmd;
    bson_t array;
    BSON_APPEND_ARRAY_BEGIN(cmd.get(), "applyOps", &array);
    BSON_APPEND_DOCUMENT(&array, "0", e.get());
    bson_append_array_end(cmd.get(), &array);
    auto reply = conn_->Command("admin", cmd.get());
    if (reply.ok()) {
      use_apply_ops_ = 1;
      ++applied_;
      return absl::OkStatus();
    }
    if (use_apply_ops_ == 1 ||
        !(absl::IsUnimplemented(reply.status()) || absl::IsPermissionDenied(reply.status()))) {
      return reply.status();
    }
    // The server has no applyOps, or the user may not run it (the built-in `restore` role may
    // not): plan entries ourselves from now on.
    use_apply_ops_ = 0;
  }
  ASSIGN_OR_RETURN(OplogStep step, PlanEntry(entry, routed_));
  RETURN_IF_ERROR(ApplyStep(step));
  ++applied_;
  return absl::OkStatus();
}

}  // namespace mdb::engine::mongodb
