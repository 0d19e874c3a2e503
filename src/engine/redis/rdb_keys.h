// Splits an RDB snapshot into per-key DUMP payloads, so that a backup can be restored key by key
// with RESTORE (Redis Cluster nodes refuse REPLICAOF, which the whole-snapshot restore uses).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "io/stream.h"

namespace mdb::engine::redis {

struct RdbKey {
  std::string key;
  std::string payload;        // what DUMP would return: type, value, RDB version, CRC64
  int64_t expire_at_ms = -1;  // absolute expiry (ms since the epoch), -1 for none
};

// Reads an RDB from `source` and calls `on_key` for every key of database 0, in order. Refuses
// (Unimplemented) what cannot be restored key by key: module types, other databases, and
// function libraries unless `functions_apart` (the backup kept them as a FUNCTION DUMP payload,
// restored by FUNCTION RESTORE: their records here are skipped).
absl::Status ForEachRdbKey(io::ByteSource* source,
                           const std::function<absl::Status(const RdbKey&)>& on_key,
                           bool functions_apart = false);

// Per database: keys, those with a time to live, and an order-free digest of their names.
struct RdbDbFacts {
  uint64_t keys = 0;
  uint64_t expiring = 0;
  uint64_t names_hash = 0;  // sum of KeyNameHash over the keys
};
uint64_t KeyNameHash(std::string_view key);

// Reads an RDB to its end and counts what every database holds (values are skipped, not
// decoded). Unimplemented for what cannot be walked without its module (module types).
absl::StatusOr<std::map<uint64_t, RdbDbFacts>> CountRdbKeys(io::ByteSource* source);

// What a restored server reports of a database (INFO keyspace: keys=N,expires=M).
struct DbKeys {
  uint64_t keys = 0;
  uint64_t expires = 0;
};
// How the restored databases differ from the recorded ones, one line each (empty: as recorded).
// Keys without a time to live never expire: their number must match exactly; keys with one may
// have expired since the backup, never multiplied.
std::vector<std::string> KeyCountProblems(const std::map<uint64_t, RdbDbFacts>& recorded,
                                          const std::map<uint64_t, DbKeys>& restored);

}  // namespace mdb::engine::redis
