// Reading and writing the contract's messages by field name: every engine's request and response
// messages are different types with the same field names (numbers differ), so the handlers reach
// them by reflection.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace mdb::api {

// The string field `name` of `m`; "" when `m` has none.
std::string GetString(const google::protobuf::Message& m, const char* name);
// The int64 field `name` of `m`; 0 when `m` has none.
int64_t GetInt64(const google::protobuf::Message& m, const char* name);
// Sets the string field `name` where `m` has one.
void SetStringIfPresent(google::protobuf::Message* m, const char* name, const std::string& value);

// The request's page_size: 0 means the default of 100; some engines annotate only an upper
// bound, so a negative size is refused here rather than reaching the catalog.
absl::StatusOr<int> PageSize(const google::protobuf::Message& req);

}  // namespace mdb::api
