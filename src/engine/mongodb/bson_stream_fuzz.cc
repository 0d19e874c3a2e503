// libFuzzer target: BSON document streams read back from a repository (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/mongodb/bson_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mdb::io::StringSource src(std::string(reinterpret_cast<const char*>(data), size));
  mdb::engine::mongodb::BsonReader reader(&src);
  for (;;) {
    auto doc = reader.Next();
    if (!doc.ok() || !doc->has_value()) break;
  }
  return 0;
}
