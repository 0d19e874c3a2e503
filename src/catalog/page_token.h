// Opaque, tamper-evident page tokens for keyset pagination.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace mdb::catalog {

// The position after the last backup of a page: the list order is (created_ns, seq) descending.
struct PageCursor {
  int64_t created_ns = 0;
  int64_t seq = 0;
};

// Encodes and checks page tokens. A token is bound by a MAC to the walk it belongs to (`scope`,
// e.g. engine and folder) under a secret key, so a client can neither forge nor alter a cursor.
// Tokens are 39 URL-safe characters, well within the API's 100.
class PageTokenCodec {
 public:
  // `key` is a secret of at least 32 bytes, stable for the catalog's life.
  explicit PageTokenCodec(std::string key) : key_(std::move(key)) {}

  std::string Encode(const PageCursor& cursor, const std::string& scope) const;
  // InvalidArgument with a message a person can act on for anything not issued for `scope`.
  absl::StatusOr<PageCursor> Decode(const std::string& token, const std::string& scope) const;

 private:
  std::string Mac(const std::string& body, const std::string& scope) const;
  std::string key_;
};

}  // namespace mdb::catalog
