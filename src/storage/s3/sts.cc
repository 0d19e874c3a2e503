// AssumeRoleWithWebIdentity over libcurl: a form POST and an XML reply, read with s3_xml.
#include "storage/s3/sts.h"

#include <curl/curl.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_listing.h"
#include "storage/s3/s3_xml.h"
#include "storage/s3/sigv4.h"

namespace mdb::storage::s3 {
namespace {

constexpr int kAttempts = 3;
constexpr size_t kMaxReply = 1 << 20;  // a reply is a few KB; more is not STS

size_t Collect(char* p, size_t size, size_t n, void* arg) {
  auto* out = static_cast<std::string*>(arg);
  if (out->size() + size * n > kMaxReply) return 0;  // curl then fails the transfer
  out->append(p, size * n);
  return size * n;
}

struct Reply {
  CURLcode curl = CURLE_OK;
  std::string curl_error;
  long status = 0;
  std::string body;
};

Reply Post(const WebIdentityRequest& req, const std::string& form) {
  Reply r;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    r.curl = CURLE_FAILED_INIT;
    r.curl_error = "curl_easy_init failed";
    return r;
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/xml");
  headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
  curl_easy_setopt(curl, CURLOPT_URL, req.endpoint.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(
      curl, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(absl::ToInt64Milliseconds(std::min(req.timeout, absl::Seconds(10)))));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(req.timeout)));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  if (!req.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, req.ca_file.c_str());
  r.curl = curl_easy_perform(curl);
  if (r.curl == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  } else {
    r.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(r.curl);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return r;
}

// The token is a bearer credential: it goes over TLS, or to this machine only.
absl::Status CheckEndpoint(const std::string& url) {
  ASSIGN_OR_RETURN(Endpoint ep, ParseEndpoint(url));
  if (ep.scheme == "https") return absl::OkStatus();
  std::string host = ep.authority.substr(
      0, ep.authority[0] == '[' ? ep.authority.find(']') + 1 : ep.authority.find(':'));
  if (host == "localhost" || host == "[::1]" || absl::StartsWith(host, "127.")) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("the STS endpoint '", url,
                   "' is not https: a web identity token is only sent over TLS (or to loopback)"));
}

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the web identity token file '", path, "'"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token(absl::StripAsciiWhitespace(ss.str()));
  if (token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the web identity token file '", path, "' is empty"));
  }
  return token;
}

}  // namespace

std::string WebIdentityForm(const WebIdentityRequest& req, std::string_view token) {
  KeyValues form = {{"Action", "AssumeRoleWithWebIdentity"},
                    {"Version", "2011-06-15"},
                    {"RoleArn", req.role_arn},
                    {"RoleSessionName", req.session_name},
                    {"DurationSeconds", absl::StrCat(req.duration_seconds)},
                    {"WebIdentityToken", std::string(token)}};
  return CanonicalQuery(form);  // the same encoding a form needs
}

absl::StatusOr<Credentials> ParseStsReply(long http_status, std::string_view body) {
  XmlReply reply = XmlReply::Parse(body);
  if (http_status < 200 || http_status >= 300) {
    // <ErrorResponse><Error><Code/><Message/></Error></ErrorResponse>
    std::string code, message;
    for (const XmlReply& e : reply.Children("Error")) {
      code = e.Text("Code");
      message = e.Text("Message");
    }
    std::string what = absl::StrCat("HTTP ", http_status, code.empty() ? "" : " ", code,
                                    message.empty() ? "" : ": ", message);
    if (http_status >= 500 || http_status == 429) return absl::UnavailableError(what);
    return absl::PermissionDeniedError(what);
  }
  std::vector<XmlReply> results = reply.Children("AssumeRoleWithWebIdentityResult");
  for (const XmlReply& r : reply.Children("AssumeRoleResult")) results.push_back(r);
  for (const XmlReply& result : results) {
    for (const XmlReply& c : result.Children("Credentials")) {
      Credentials out{.access_key = c.Text("AccessKeyId"),
                      .secret_key = c.Text("SecretAccessKey"),
                      .session_token = c.Text("SessionToken"),
                      .expiration = ParseIsoDate(c.Text("Expiration"))};
      if (out.access_key.empty() || out.secret_key.empty() || out.session_token.empty()) break;
      if (out.expiration == absl::InfinitePast()) {
        return absl::InternalError(
            absl::StrCat("unreadable Expiration '", c.Text("Expiration"), "' in the STS reply"));
      }
      return out;
    }
  }
  return absl::InternalError(
      absl::StrCat("the STS reply (", body.size(), " bytes) holds no credentials"));
}

absl::StatusOr<Credentials> AssumeRoleWithWebIdentity(const WebIdentityRequest& req) {
  std::string context =
      absl::StrCat("STS AssumeRoleWithWebIdentity of '", req.role_arn, "' at ", req.endpoint);
  RETURN_IF_ERROR(CheckEndpoint(req.endpoint));
  ASSIGN_OR_RETURN(std::string token, ReadToken(req.token_file));
  std::string form = WebIdentityForm(req, token);
  absl::Status last;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    Reply r = Post(req, form);
    if (r.curl != CURLE_OK) {
      last = absl::UnavailableError(r.curl_error);
      if (!RetryableCurlError(r.curl)) break;  // TLS verification and the like: same next time
    } else {
      absl::StatusOr<Credentials> c = ParseStsReply(r.status, r.body);
      if (c.ok() || !absl::IsUnavailable(c.status())) {
        return c.ok() ? c : common::WithContext(c.status(), context);
      }
      last = c.status();
    }
    if (attempt < kAttempts) absl::SleepFor(absl::Milliseconds(200 * attempt));
  }
  return common::WithContext(last, context);
}

}  // namespace mdb::storage::s3
