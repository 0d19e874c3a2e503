// MongoDB 5+ logs an update as a "$v: 2" delta (`{diff: ...}`, the server's doc_diff format),
// which no public command takes. A restore that cannot use applyOps (a server without it, or the
// built-in `restore` role, which lacks the privilege) applies it as ordinary update operators.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "engine/mongodb/mongo_conn.h"

namespace mdb::engine::mongodb {

// The update documents, applied one after another, that make the change `diff` describes:
// arrays cut to their new length first ({$push: {path: {$each: [], $slice: n}}}), then one
// {$unset, $set} of every removed, changed and added field by its dotted path. InvalidArgument
// for a field name no update path can address (empty, with a '.', or starting with '$'), and
// for anything that is not the delta format.
absl::StatusOr<std::vector<Bson>> DeltaToUpdates(const bson_t* diff);

}  // namespace mdb::engine::mongodb
