// The CRCs Redis uses, computed as Redis computes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mdb::engine::redis {

// Redis's CRC64 (Jones polynomial, reflected), as DUMP payloads and RDB files use it.
uint64_t Crc64(uint64_t crc, const void* data, size_t size);

// The cluster slot of a key: CRC16 (XMODEM) of the key or of its {hash tag}, modulo 16384.
int KeySlot(const std::string& key);

}  // namespace mdb::engine::redis
