// What the service reads and writes in an Operation's metadata, whatever its engine's type:
// every engine's Backup, Restore and Delete metadata is a different message with the same field
// names, reached by reflection.
#pragma once

#include <cstdint>
#include <string>

#include "yandex/cloud/operation/operation.pb.h"

namespace mdb::ops {

// Writes our progress extension fields (bytes_done / bytes_total) into the operation's
// metadata, where its metadata type has them.
void SetProgress(::yandex::cloud::operation::Operation* op, int64_t done, int64_t total);

// The cluster the operation is about (its metadata's cluster_id), for the log's context and the
// catalog's per-cluster listing; "" when its metadata has none.
std::string ClusterOf(const ::yandex::cloud::operation::Operation& op);

}  // namespace mdb::ops
