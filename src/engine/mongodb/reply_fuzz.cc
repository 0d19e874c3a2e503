// libFuzzer target: whole replies as a MongoDB server sends them, checked before libmongoc reads
// them (reply_guard.h; scripts/fuzz.sh). The input is one message, header included.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/mongodb/reply_guard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string message(reinterpret_cast<const char*>(data), size);
  (void)mdb::engine::mongodb::ReplyProblem(message);
  (void)mdb::engine::mongodb::BsonProblem(data, size);
  return 0;
}
