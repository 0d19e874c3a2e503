// The shape of a collection in the repository: its documents as concatenated BSON (the layout of
// mongodump's .bson files), read back document by document with bounded memory, and an
// order-independent digest that restore compares against the server it loaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "io/stream.h"

namespace mdb::engine::mongodb {

// Count and order-independent hash of a set of documents: the sum (mod 2^64) of a SipHash-2-4 of
// each document's bytes. Equal sets give equal digests whatever order a server returns them in.
struct DocDigest {
  uint64_t count = 0;
  uint64_t bytes = 0;
  uint64_t hash = 0;
  void Add(std::string_view doc);
  bool operator==(const DocDigest& o) const = default;
};

// Largest document accepted from a stream: MongoDB's 16 MiB plus the slack the server allows for
// internal documents (oplog entries of maximal documents).
constexpr uint32_t kMaxDocumentBytes = 16 * 1024 * 1024 + 16 * 1024;

// Splits a byte stream of concatenated BSON documents. Checks each length prefix (not the
// content: the server validates what it is given).
class BsonReader {
 public:
  explicit BsonReader(io::ByteSource* source) : source_(source) {}
  // The next document's bytes (valid until the next call), or nullopt at a clean end of the
  // stream. DataLoss when the stream
  // ends inside a document or a length is impossible.
  absl::StatusOr<std::optional<std::string_view>> Next();

 private:
  absl::Status Fill(size_t need);  // until `need` bytes are buffered past pos_, or the end
  io::ByteSource* source_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
};

}  // namespace mdb::engine::mongodb
