// libFuzzer target: OpenSearch reply bodies and the reads the engine makes of them
// (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/opensearch/os_http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace os = mdb::engine::opensearch;
  os::Json j = os::ParseReply(std::string(reinterpret_cast<const char*>(data), size));
  (void)os::GetStr(j, "/version/number");
  (void)os::GetInt(j, "/snapshot/shards/total");
  os::Json failures = os::GetNode(j, "/snapshot/failures");
  (void)failures.dump();
  if (os::Json list = os::GetNode(j, "/snapshots"); list.is_array()) {
    for (const auto& s : list) (void)os::GetStr(s, "/snapshot");
  }
  return 0;
}
