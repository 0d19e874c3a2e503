#include "engine/opensearch/os_http.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/host_options.h"
#include "common/status.h"
#include "common/text.h"

namespace mdb::engine::opensearch {
namespace {

// Replies the engine reads are small JSON documents (a snapshot's status, index lists): a reply
// past this is a broken or hostile node, refused rather than held in memory.
constexpr size_t kMaxReply = 64 << 20;

size_t Collect(char* data, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (s->size() + size * n > kMaxReply) return 0;  // curl ends the transfer: CURLE_WRITE_ERROR
  s->append(data, size * n);
  return size * n;
}

// Called by curl about once a second even while nothing arrives: a cancelled operation aborts
// the transfer instead of waiting for a silent node.
int Progress(void* cancelled, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* flag = static_cast<const std::atomic<bool>*>(cancelled);
  return flag && flag->load() ? 1 : 0;
}

absl::StatusCode CodeForHttp(long status) {
  switch (status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kAlreadyExists;
    case 429:
    case 502:
    case 503:
    case 504:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kFailedPrecondition;
  }
}

// OpenSearch's error answer: {"error": {"type": ..., "reason": ..., "root_cause": [...]}}.
// Cut to what an operation's record keeps: a reply of up to its 64 MiB limit could be one reason.
std::string Reason(const Json& body) {
  Json e = GetNode(body, "/error");
  std::string reason;
  if (e.is_object()) {
    reason = absl::StrCat(GetStr(e, "/type", "error"), ": ", GetStr(e, "/reason"));
  } else if (e.is_string()) {
    reason = e.get<std::string>();
  } else {
    return body.is_null() ? "" : body.dump().substr(0, 300);
  }
  return reason.substr(0, common::kMaxStoredMessageBytes);
}

}  // namespace

Json GetNode(const Json& j, const std::string& pointer) {
  try {
    Json::json_pointer p(pointer);
    if (j.contains(p)) return j.at(p);
  } catch (const std::exception&) {
    // a path through a value of another type: treated as missing
  }
  return nullptr;
}

Json ParseReply(const std::string& body, std::string* why) {
  constexpr int kMaxDepth = 64;
  int depth = 0;
  // The top value, then one per container opened (its first element) and one per comma.
  int64_t values = 1;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) {
        if (why) *why = absl::StrCat("nested deeper than ", kMaxDepth, " levels");
        return nullptr;
      }
      ++values;
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == ',') {
      ++values;
    }
  }
  if (values > kMaxReplyValues) {
    if (why) *why = absl::StrCat("holding more than ", kMaxReplyValues, " values");
    return nullptr;
  }
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) return j;
  if (why && !body.empty()) *why = "not JSON";
  return nullptr;
}

std::string GetStr(const Json& j, const std::string& pointer, const std::string& def) {
  Json v = GetNode(j, pointer);
  return v.is_string() ? v.get<std::string>() : def;
}

int64_t GetInt(const Json& j, const std::string& pointer, int64_t def) {
  Json v = GetNode(j, pointer);
  return v.is_number_integer() ? v.get<int64_t>() : def;
}

absl::StatusOr<std::unique_ptr<OsClient>> OsClient::Connect(const common::HostConfig& host) {
  auto opt = [&](const char* key, const char* def) {
    auto it = host.options.find(key);
    return it == host.options.end() ? std::string(def) : it->second;
  };
  std::string userpwd;
  if (std::string user = opt("user", ""); !user.empty()) {
    ASSIGN_OR_RETURN(std::string password, common::HostPassword(host));
    userpwd = user + ":" + password;
  }
  CURL* curl = curl_easy_init();
  if (!curl) return absl::ResourceExhaustedError("curl_easy_init failed");
  return std::unique_ptr<OsClient>(new OsClient(
      curl, absl::StrCat(opt("scheme", "http"), "://", host.address), host.address, userpwd));
}

OsClient::~OsClient() { curl_easy_cleanup(curl_); }

absl::StatusOr<HttpReply> OsClient::Call(const std::string& method, const std::string& path,
                                         const Json& body, long timeout_seconds) {
  curl_easy_reset(curl_);
  std::string url = base_ + path, out, payload;
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl_, CURLOPT_TIMEOUT, timeout_seconds);
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, Progress);
  curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(cancelled_));
  if (!userpwd_.empty()) {
    curl_easy_setopt(curl_, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl_, CURLOPT_USERPWD, userpwd_.c_str());
  }
  char error[CURL_ERROR_SIZE] = "";  // curl's reason, more precise than curl_easy_strerror's
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error);
  struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
  if (!body.is_null()) {
    payload = body.dump();
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  }
  CURLcode rc = curl_easy_perform(curl_);
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, nullptr);  // `error` goes out of scope
  curl_slist_free_all(headers);
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    return absl::CancelledError(
        absl::StrCat("cancelled during ", method, " ", path, " at opensearch ", address_));
  }
  if (rc == CURLE_WRITE_ERROR && out.size() + CURL_MAX_WRITE_SIZE > kMaxReply) {
    return absl::DataLossError(absl::StrCat("opensearch ", address_, ": ", method, " ", path,
                                            ": reply larger than ", kMaxReply >> 20,
                                            " MiB (a broken node, or something else there?)"));
  }
  if (rc != CURLE_OK) {
    std::string reason = error[0] ? error : curl_easy_strerror(rc);
    if (rc == CURLE_OUT_OF_MEMORY && !error[0]) {
      reason += " (curl's answer also to a reply header line longer than 100 KiB)";
    }
    return absl::UnavailableError(
        absl::StrCat("opensearch ", address_, ": ", method, " ", path, ": ", reason));
  }
  HttpReply reply;
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
  std::string why;
  reply.body = ParseReply(out, &why);
  if (reply.status / 100 == 2 && !why.empty()) {
    return absl::DataLossError(absl::StrCat("opensearch ", address_, ": ", method, " ", path,
                                            ": HTTP ", reply.status, " reply ", why,
                                            " (a broken node, or something else there?)"));
  }
  return reply;
}

absl::StatusOr<Json> OsClient::Ok(const std::string& method, const std::string& path,
                                  const std::string& what, const Json& body, long timeout_seconds) {
  ASSIGN_OR_RETURN(HttpReply reply, Call(method, path, body, timeout_seconds));
  if (reply.status / 100 != 2) {
    return absl::Status(CodeForHttp(reply.status),
                        absl::StrCat("opensearch ", address_, ": ", what, ": HTTP ", reply.status,
                                     " ", Reason(reply.body)));
  }
  return reply.body;
}

}  // namespace mdb::engine::opensearch
