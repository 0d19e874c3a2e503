// The S3 wire layer under the S3 driver: addressing, signed requests over libcurl with bounded
// retries, S3 error mapping (replies read with s3_xml.h).
#pragma once

#include <curl/curl.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/s3/credentials.h"
#include "storage/s3/s3_storage.h"
#include "storage/s3/s3_xml.h"
#include "storage/s3/sigv4.h"

namespace mdb::storage::s3 {

// Which transport failures are worth another attempt: the server may answer next time. Malformed
// URLs, TLS verification failures and the like would fail the same way again.
bool RetryableCurlError(CURLcode c);

// An endpoint URL split into its parts: "http://127.0.0.1:7070" -> {"http", "127.0.0.1:7070", ""}.
struct Endpoint {
  std::string scheme;     // "http" or "https"
  std::string authority;  // host[:port], sent as the Host header
  std::string base_path;  // "" or "/path" (no trailing '/'), for stores mounted below the root
};
absl::StatusOr<Endpoint> ParseEndpoint(const std::string& url);

// Where a request goes. Path style: scheme://host/bucket/key; virtual host:
// scheme://bucket.host/key. An empty object key addresses the bucket itself.
struct Target {
  std::string url;            // without the query
  std::string host;           // the Host header
  std::string canonical_uri;  // the encoded path, exactly as sent and signed
};
Target BuildTarget(const Endpoint& endpoint, const std::string& bucket,
                   const std::string& object_key, bool path_style);

struct Request {
  Request(std::string m, std::string key, KeyValues q = {})
      : method(std::move(m)), object_key(std::move(key)), query(std::move(q)) {}

  std::string method;      // GET, HEAD, PUT, POST, DELETE
  std::string object_key;  // the key inside the bucket; "" for bucket-level requests
  KeyValues query;
  KeyValues headers;  // extra headers to send and sign, e.g. Range
  std::string_view body;
  std::string what;  // for messages, after "s3 "; default "METHOD 'key'"
  // CompleteMultipartUpload may fail after its 200 status line; S3 then sends an <Error> body.
  bool error_in_ok_body = false;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::string Header(const std::string& name) const;
};

// Thread-safe. Keeps a few curl handles so that connections are reused across calls.
class Client {
 public:
  // Signs with `credentials`, or with the static keys of `options` when it is null.
  Client(S3Options options, Endpoint endpoint,
         std::shared_ptr<CredentialsProvider> credentials = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `req`, retrying 5xx, 429, timeouts and connection failures up to max_attempts times
  // with full-jitter exponential backoff; credentials the store calls expired are fetched anew
  // and the request retried. Returns the response only for 2xx statuses; otherwise
  // NotFound (404), PermissionDenied (401/403), OutOfRange (416), InvalidArgument (400),
  // FailedPrecondition (409/412), Unavailable (retries spent), Unknown (the rest).
  absl::StatusOr<Response> Send(const Request& req);

  const S3Options& options() const { return options_; }
  const Endpoint& endpoint() const { return endpoint_; }
  const CredentialsProvider& credentials() const { return *credentials_; }

 private:
  struct Attempt {
    CURLcode curl = CURLE_OK;
    std::string curl_error;
    Response response;
  };
  Attempt Perform(CURL* curl, const Request& req, const Target& target, const std::string& query,
                  const std::string& payload_sha256, const Credentials& credentials);
  CURL* Acquire();
  void Release(CURL* curl);

  const S3Options options_;
  const Endpoint endpoint_;
  const std::shared_ptr<CredentialsProvider> credentials_;
  std::mutex mu_;
  std::vector<CURL*> idle_;  // guarded by mu_
};

}  // namespace mdb::storage::s3
