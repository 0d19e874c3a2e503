// absl and gRPC share the canonical code numbering, so the gRPC mapping is a cast; the HTTP table
// follows google/rpc/code.proto, as grpc-gateway and Yandex Cloud's REST endpoints do.
#include "api/status_map.h"

#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/status.pb.h"

namespace mdb::api {
namespace {

// The last guard on echoed input (handlers quote what they echo, api/validation.h): a status
// message travels in a gRPC trailer, and clients drop trailers past 16 KiB, reporting
// RESOURCE_EXHAUSTED instead of the error.
constexpr size_t kMaxMessageBytes = 2048;

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF), or 0.
size_t Utf8SequenceAt(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  unsigned char c = at(0);
  auto cont = [&](size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return at(k) >= lo && at(k) <= hi;
  };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c >= 0xE1 && c <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// The message a client gets: valid UTF-8 (echoed input may hold any bytes; JSON must be UTF-8
// and protobuf's printer drops or passes such bytes inconsistently), invalid bytes shown as \xNN,
// and at most kMaxMessageBytes, cut at a character.
std::string Message(const absl::Status& status) {
  std::string_view m(status.message().data(), status.message().size());
  std::string out;
  for (size_t i = 0; i < m.size() && out.size() < kMaxMessageBytes;) {
    if (size_t n = Utf8SequenceAt(m, i); n > 0) {
      out.append(m.substr(i, n));
      i += n;
    } else {
      absl::StrAppendFormat(&out, "\\x%02X", static_cast<unsigned char>(m[i]));
      ++i;
    }
    if (out.size() >= kMaxMessageBytes && i < m.size()) {
      out += "... (cut)";
      break;
    }
  }
  return out;
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
