#include <sodium.h>

#include "catalog/catalog.h"

namespace mdb::catalog {

RecordDigest DigestOf(std::string_view record) {
  // BLAKE2b (libsodium's generic hash, already linked for page tokens): a collision would show
  // one version of a backup for another, so a cryptographic hash, not a checksum; 128 bits are
  // plenty for that and keep index entries small.
  RecordDigest out;
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(record.data()), record.size(), nullptr,
                     0);
  return out;
}

}  // namespace mdb::catalog
