// libFuzzer target: oplog entries as a source's oplog holds them (scripts/fuzz.sh): planning one
// into commands (v2 deltas included) must refuse what it cannot express, never crash; the same
// through a router, with a shard key to pull out of the document.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/mongodb/oplog_apply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mdb::engine::mongodb::ShardKeys kKeys = {{"a.b", {"k", "m.n"}}};
  const std::string_view entry(reinterpret_cast<const char*>(data), size);
  (void)mdb::engine::mongodb::PlanEntry(entry);
  (void)mdb::engine::mongodb::PlanEntry(entry, &kKeys);
  return 0;
}
