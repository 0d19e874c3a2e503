// Identifiers for backups and operations: random, URL-safe, unique across instances.
#pragma once

#include <string>

namespace mdb::common {

// Returns a 20-character id of lowercase letters and digits (100 random bits) that starts with a
// letter, as public cloud resource ids do. Safe to call from any thread.
std::string NewId();

// Fills `out` with `n` cryptographically random bytes.
void RandomBytes(void* out, size_t n);

}  // namespace mdb::common
