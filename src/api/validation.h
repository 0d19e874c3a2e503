// Request validation driven by the contract's own annotations (yandex.cloud.required, length,
// value, size, pattern, map_key) read from the message descriptors: the limits live only in proto/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace mdb::api {

// Checks `message` and its nested messages. Returns InvalidArgument naming the first offending
// field, its value and the limit, e.g. "invalid 'page_size': 1001 is outside 0-1000".
absl::Status Validate(const google::protobuf::Message& message);

// The most entries the contract allows in repeated `field` (its `size` annotation, e.g. "<=100"),
// or INT64_MAX when it sets no upper bound.
int64_t MaxEntries(const google::protobuf::FieldDescriptor* field);

// `input` in single quotes for a message, cut to its first 64 bytes (at a character boundary)
// with "..." when longer: an id echoed whole could be 4 MiB, past gRPC clients' 16 KiB limit on
// trailers (they would see RESOURCE_EXHAUSTED instead of the error).
std::string Quoted(std::string_view input);

}  // namespace mdb::api
