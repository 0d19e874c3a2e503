// S3 requests over libcurl. Every attempt is signed afresh (the signature embeds the time), and
// retries use "full jitter" (sleep uniformly in [0, min(max, base * 2^n)]) so that many clients
// hit by the same outage do not come back in lockstep.
#include "storage/s3/s3_client.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace mdb::storage::s3 {
namespace {

constexpr size_t kMaxIdleHandles = 16;

}  // namespace

bool RetryableCurlError(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
      return true;
    default:
      return false;
  }
}

namespace {

// 501 (not implemented) and 505 (HTTP version) are permanent, the other 5xx are not.
bool RetryableHttp(long status, const std::string& code) {
  if (status == 429) return true;
  if (status == 400 && code == "RequestTimeout") return true;  // S3's idle-socket timeout
  return status >= 500 && status != 501 && status != 505;
}

// Credentials the store refused are PermissionDenied whatever the status (S3 answers some with
// 400): the operator's fix is the same.
bool CredentialsRefused(const std::string& code) {
  return code == "ExpiredToken" || code == "InvalidToken" || code == "InvalidAccessKeyId" ||
         code == "SignatureDoesNotMatch" || code == "TokenRefreshRequired";
}

absl::Status HttpStatus(long status, const std::string& code, std::string message) {
  if (CredentialsRefused(code)) return absl::PermissionDeniedError(message);
  switch (status) {
    case 400:
      return absl::InvalidArgumentError(message);
    case 401:
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 409:
    case 412:
      return absl::FailedPreconditionError(message);
    case 416:
      return absl::OutOfRangeError(message);
    default:
      return absl::UnknownError(message);
  }
}

absl::Duration Backoff(const S3Options& o, int retry) {
  absl::Duration cap = o.base_backoff;
  for (int i = 0; i < retry && cap < o.max_backoff; ++i) cap *= 2;
  cap = std::min(cap, o.max_backoff);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> dist(0,
                                              std::max<int64_t>(0, absl::ToInt64Microseconds(cap)));
  return absl::Microseconds(dist(rng));
}

struct Transfer {
  std::string_view upload;
  size_t upload_pos = 0;
  Response* response;
};

size_t ReadBody(char* buf, size_t size, size_t n, void* arg) {
  auto* t = static_cast<Transfer*>(arg);
  size_t len = std::min(size * n, t->upload.size() - t->upload_pos);
  memcpy(buf, t->upload.data() + t->upload_pos, len);
  t->upload_pos += len;
  return len;
}

// curl rewinds the upload when it resends on a fresh connection after a reused one died.
int SeekBody(void* arg, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(arg);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->upload.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->upload_pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t WriteBody(char* p, size_t size, size_t n, void* arg) {
  static_cast<Transfer*>(arg)->response->body.append(p, size * n);
  return size * n;
}

size_t WriteHeader(char* p, size_t size, size_t n, void* arg) {
  auto* r = static_cast<Transfer*>(arg)->response;
  std::string_view line(p, size * n);
  if (line.substr(0, 5) == "HTTP/") {
    r->headers.clear();  // a new response (after "100 Continue", say) starts over
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::string value(line.substr(colon + 1));
    name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
    value = std::string(absl::StripAsciiWhitespace(value));
    // Objects are read whole into memory: one allocation instead of a doubling series.
    uint64_t length = 0;
    if (name == "content-length" && absl::SimpleAtoi(value, &length) && length <= (1u << 30)) {
      r->body.reserve(length);
    }
    r->headers[name] = std::move(value);
  }
  return size * n;
}

}  // namespace

absl::StatusOr<Endpoint> ParseEndpoint(const std::string& url) {
  auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid s3 endpoint '", url, "': ", why));
  };
  size_t sep = url.find("://");
  if (sep == std::string::npos) return bad("expected http://host[:port] or https://host[:port]");
  Endpoint ep;
  ep.scheme = absl::AsciiStrToLower(url.substr(0, sep));
  if (ep.scheme != "http" && ep.scheme != "https") return bad("the scheme must be http or https");
  std::string rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string::npos) return bad("no query or fragment allowed");
  size_t slash = rest.find('/');
  ep.authority = rest.substr(0, slash);
  if (ep.authority.empty()) return bad("no host");
  if (ep.authority.find('@') != std::string::npos) return bad("credentials do not go in the URL");
  if (slash != std::string::npos) ep.base_path = rest.substr(slash);
  while (!ep.base_path.empty() && ep.base_path.back() == '/') ep.base_path.pop_back();
  return ep;
}

Target BuildTarget(const Endpoint& endpoint, const std::string& bucket,
                   const std::string& object_key, bool path_style) {
  Target t;
  std::string key_path = object_key.empty() ? "" : "/" + UriEncode(object_key, true);
  if (path_style) {
    t.host = endpoint.authority;
    t.canonical_uri =
        absl::StrCat(UriEncode(endpoint.base_path, true), "/", UriEncode(bucket, false), key_path);
  } else {
    t.host = absl::StrCat(bucket, ".", endpoint.authority);
    t.canonical_uri = absl::StrCat(UriEncode(endpoint.base_path, true), key_path);
    if (t.canonical_uri.empty()) t.canonical_uri = "/";
  }
  t.url = absl::StrCat(endpoint.scheme, "://", t.host, t.canonical_uri);
  return t;
}

std::string Response::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

Client::Client(S3Options options, Endpoint endpoint,
               std::shared_ptr<CredentialsProvider> credentials)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      credentials_(credentials ? std::move(credentials)
                               : FixedCredentials({.access_key = options_.access_key,
                                                   .secret_key = options_.secret_key,
                                                   .session_token = options_.session_token},
                                                  "the repository options")) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Client::~Client() {
  for (CURL* c : idle_) curl_easy_cleanup(c);
}

CURL* Client::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      CURL* c = idle_.back();
      idle_.pop_back();
      return c;
    }
  }
  return curl_easy_init();
}

void Client::Release(CURL* curl) {
  curl_easy_reset(curl);  // keeps the connection cache, forgets the options
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < kMaxIdleHandles) {
      idle_.push_back(curl);
      return;
    }
  }
  curl_easy_cleanup(curl);
}

Client::Attempt Client::Perform(CURL* curl, const Request& req, const Target& target,
                                const std::string& query, const std::string& payload_sha256,
                                const Credentials& credentials) {
  Attempt a;
  absl::Time now = absl::Now();
  SigningRequest sreq{.method = req.method,
                      .canonical_uri = target.canonical_uri,
                      .query = req.query,
                      .headers = req.headers,
                      .payload_sha256 = payload_sha256,
                      .time = now,
                      .region = options_.region,
                      .access_key = credentials.access_key,
                      .secret_key = credentials.secret_key};
  sreq.headers.emplace_back("host", target.host);
  sreq.headers.emplace_back("x-amz-date", AmzDate(now));
  sreq.headers.emplace_back("x-amz-content-sha256", payload_sha256);
  if (!credentials.session_token.empty()) {
    sreq.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  Signature sig = SignV4(sreq);

  curl_slist* headers = nullptr;
  for (const auto& [k, v] : sreq.headers) {
    headers = curl_slist_append(headers, absl::StrCat(k, ": ", v).c_str());
  }
  headers = curl_slist_append(headers, absl::StrCat("Authorization: ", sig.authorization).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip

  Transfer t{.upload = req.body, .upload_pos = 0, .response = &a.response};
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string url = query.empty() ? target.url : absl::StrCat(target.url, "?", query);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.request_timeout)));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(
                       std::min(options_.request_timeout, absl::Seconds(10)))));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (req.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT" || req.method == "POST") {
    // Upload mode streams the caller's buffer without a copy and sends Content-Length.
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, SeekBody);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    if (req.method == "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "POST");
  } else if (req.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  a.curl = curl_easy_perform(curl);
  if (a.curl == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.response.status);
  } else {
    a.curl_error = absl::StrCat("curl error ", static_cast<int>(a.curl), ": ",
                                errbuf[0] ? errbuf : curl_easy_strerror(a.curl));
  }
  curl_slist_free_all(headers);
  return a;
}

absl::StatusOr<Response> Client::Send(const Request& req) {
  Target target = BuildTarget(endpoint_, options_.bucket, req.object_key, options_.path_style);
  std::string query = CanonicalQuery(req.query);
  std::string what = req.what;
  if (what.empty()) {
    what = req.object_key.empty() ? absl::StrCat(req.method, " bucket '", options_.bucket, "'")
                                  : absl::StrCat(req.method, " '", req.object_key, "'");
  }
  std::string payload_sha256 = Sha256Hex(req.body);
  int max_attempts = std::max(1, options_.max_attempts);
  std::string last_error;
  bool refreshed = false;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<Credentials> credentials = credentials_->Get();
    if (!credentials.ok()) {
      return common::WithContext(
          credentials.status(),
          absl::StrCat("s3 ", what, ": credentials from ", credentials_->Describe()));
    }
    CURL* curl = Acquire();
    if (curl == nullptr) return absl::ResourceExhaustedError("s3: curl_easy_init failed");
    Attempt a = Perform(curl, req, target, query, payload_sha256, *credentials);
    Release(curl);

    if (a.curl != CURLE_OK) {
      if (!RetryableCurlError(a.curl)) {
        return absl::UnavailableError(absl::StrCat("s3 ", what, ": ", a.curl_error));
      }
      last_error = a.curl_error;
    } else {
      const Response& r = a.response;
      bool ok_status = r.status >= 200 && r.status < 300;
      // An error body in a 200 answer can only be told from data when the caller expects XML.
      bool hidden_error = ok_status && req.error_in_ok_body && absl::StrContains(r.body, "<Error>");
      if (ok_status && !hidden_error) return std::move(a.response);
      XmlReply error = XmlReply::Parse(r.body);
      std::string code = error.Text("Code");
      std::string message = error.Text("Message");
      last_error = absl::StrCat("HTTP ", r.status, code.empty() ? "" : " ", code,
                                message.empty() ? "" : ": ", message);
      // Temporary credentials that ran out between our refresh and the store's check: once.
      if (code == "ExpiredToken" && !refreshed) {
        refreshed = true;
        credentials_->Invalidate(*credentials);
        --attempt;
        continue;
      }
      if (!hidden_error && !RetryableHttp(r.status, code)) {
        return HttpStatus(r.status, code, absl::StrCat("s3 ", what, ": ", last_error));
      }
    }
    if (attempt >= max_attempts) break;
    absl::SleepFor(Backoff(options_, attempt - 1));
  }
  return absl::UnavailableError(
      absl::StrCat("s3 ", what, ": gave up after ", max_attempts,
                   max_attempts == 1 ? " attempt: " : " attempts: ", last_error));
}

}  // namespace mdb::storage::s3
