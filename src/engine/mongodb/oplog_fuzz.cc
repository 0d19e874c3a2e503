// libFuzzer target: oplog entries as a source's oplog holds them (scripts/fuzz.sh): planning one
// into commands must refuse what it cannot express, never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/mongodb/oplog_apply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto step =
      mdb::engine::mongodb::PlanEntry(std::string_view(reinterpret_cast<const char*>(data), size));
  (void)step;
  return 0;
}
