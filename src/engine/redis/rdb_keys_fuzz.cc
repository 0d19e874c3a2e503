// libFuzzer target: RDB payloads split into keys for Redis Cluster restores (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/redis/rdb_keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mdb::io::StringSource src(std::string(reinterpret_cast<const char*>(data), size));
  (void)mdb::engine::redis::ForEachRdbKey(
      &src, [](const mdb::engine::redis::RdbKey&) { return absl::OkStatus(); });
  return 0;
}
