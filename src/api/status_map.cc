// absl and gRPC share the canonical code numbering, so the gRPC mapping is a cast; the HTTP table
// follows google/rpc/code.proto, as grpc-gateway and Yandex Cloud's REST endpoints do.
#include "api/status_map.h"

#include "common/text.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/status.pb.h"

namespace mdb::api {
namespace {

// The last guard on echoed input (handlers quote what they echo, api/validation.h): a status
// message travels in a gRPC trailer, and clients drop trailers past 16 KiB, reporting
// RESOURCE_EXHAUSTED instead of the error.
constexpr size_t kMaxMessageBytes = 2048;

// The message a client gets: valid UTF-8 (echoed input may hold any bytes; JSON must be UTF-8
// and protobuf's printer drops or passes such bytes inconsistently), cut at kMaxMessageBytes.
std::string Message(const absl::Status& status) {
  return common::CleanUtf8(status.message(), kMaxMessageBytes);
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), Message(status));
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDataLoss:
      return 500;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    default:
      return 500;
  }
}

std::string StatusToJson(const absl::Status& status) {
  google::rpc::Status body;
  body.set_code(static_cast<int>(status.code()));
  body.set_message(Message(status));
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;  // "details": [] and "code" even when empty
  (void)google::protobuf::util::MessageToJsonString(body, &json, opts);
  return json;
}

}  // namespace mdb::api
