// Elements of a repeated message field handed to a transport as the bytes they serialize to.
// A List(100) keeps each Backup's bytes (backup_cache.h); building 100 messages from them only to
// serialize them again, or copying each into the response's unknown fields, was a large share of
// its cost. A transport that sends a response as it serializes it writes these after the
// response's own bytes: protobuf reads a repeated field's elements wherever they come on the
// wire, in order, so the client parses exactly the message with the elements added.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mdb::api {

struct SplicedField {
  int number = 0;  // the repeated field's number in the response
  std::vector<std::shared_ptr<const std::string>> items;  // each element's serialized message

  // The bytes Write writes: a tag and a length before each element.
  size_t WireSize() const;
  // Writes the elements in the field's wire form at `out` (WireSize() bytes); returns the end.
  uint8_t* Write(uint8_t* out) const;
};

}  // namespace mdb::api
