// AWS Signature Version 4 for S3 requests, written against the AWS documentation (no SDK).
// Pure functions of their inputs, so tests can check them against the published examples.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace mdb::storage::s3 {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Percent-encodes everything except the unreserved characters A-Z a-z 0-9 - _ . ~ (and '/' when
// `keep_slash`), with uppercase hex digits, as SigV4 requires.
std::string UriEncode(std::string_view s, bool keep_slash);

// "k1=v1&k2=v2" with keys and values UriEncode'd and pairs sorted: the canonical query string,
// also used verbatim as the request's query so that what is signed is what is sent.
std::string CanonicalQuery(const KeyValues& query);

// "20130524T000000Z".
std::string AmzDate(absl::Time t);

struct SigningRequest {
  std::string method;          // "GET"
  std::string canonical_uri;   // already encoded, e.g. "/bucket/a/b"
  KeyValues query;             // raw (unencoded) names and values
  KeyValues headers;           // every header to sign; must include host and x-amz-date
  std::string payload_sha256;  // hex, the same value as the x-amz-content-sha256 header
  absl::Time time;
  std::string region;
  std::string access_key;
  std::string secret_key;
  std::string service = "s3";  // "sts" for STS calls
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header value
};

Signature SignV4(const SigningRequest& req);

}  // namespace mdb::storage::s3
