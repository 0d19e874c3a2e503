// The one place that maps absl::Status to transport codes: gRPC status and HTTP status + JSON body.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace mdb::api {

grpc::Status ToGrpcStatus(const absl::Status& status);

// The HTTP status the REST API answers with for `code` (the grpc-gateway table).
int HttpStatusFor(absl::StatusCode code);

// A google.rpc.Status-shaped JSON body: {"code": 5, "message": "...", "details": []}.
std::string StatusToJson(const absl::Status& status);

}  // namespace mdb::api
