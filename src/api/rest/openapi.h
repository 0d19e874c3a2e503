// The REST API as an OpenAPI 3 document (GET /openapi.json), generated from the served methods'
// descriptors: each `google.api.http` rule becomes an operation, each message a schema in the
// proto3 JSON mapping. Nothing of it is written by hand but the probes beside the API (/healthz,
// /readyz, /metrics), which no proto describes.
#pragma once

#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"

namespace mdb::api::rest {

// The document, as JSON text. Its version is the API's ("v1"), not the build's: the document is
// served without a token, and a build's version tells an attacker which flaws to try.
std::string OpenApiJson(const std::vector<const google::protobuf::ServiceDescriptor*>& services);

}  // namespace mdb::api::rest
