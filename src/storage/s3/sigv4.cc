// SigV4 signing. The steps and their order follow the AWS "Signature Version 4" documentation for
// S3 (canonical request -> string to sign -> derived key -> signature); any deviation, even in
// whitespace, makes the server answer SignatureDoesNotMatch.
#include "storage/s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mdb::storage::s3 {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string Hex(const unsigned char* p, size_t n) {
  std::string out(2 * n, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 15];
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// Header values are signed trimmed, with inner runs of spaces folded to one.
std::string TrimAll(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return Hex(digest, sizeof(digest));
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(static_cast<char>(absl::ascii_toupper(kHex[c >> 4])));
      out.push_back(static_cast<char>(absl::ascii_toupper(kHex[c & 15])));
    }
  }
  return out;
}

std::string CanonicalQuery(const KeyValues& query) {
  KeyValues encoded;
  encoded.reserve(query.size());
  for (const auto& [k, v] : query) encoded.emplace_back(UriEncode(k, false), UriEncode(v, false));
  std::sort(encoded.begin(), encoded.end());
  return absl::StrJoin(encoded, "&", absl::PairFormatter("="));
}

std::string AmzDate(absl::Time t) {
  return absl::FormatTime("%Y%m%dT%H%M%SZ", t, absl::UTCTimeZone());
}

Signature SignV4(const SigningRequest& req) {
  KeyValues headers;
  for (const auto& [k, v] : req.headers) headers.emplace_back(absl::AsciiStrToLower(k), TrimAll(v));
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers;
  std::vector<std::string> names;
  for (const auto& [k, v] : headers) {
    absl::StrAppend(&canonical_headers, k, ":", v, "\n");
    names.push_back(k);
  }
  std::string signed_headers = absl::StrJoin(names, ";");

  Signature sig;
  sig.canonical_request =
      absl::StrCat(req.method, "\n", req.canonical_uri, "\n", CanonicalQuery(req.query), "\n",
                   canonical_headers, "\n", signed_headers, "\n", req.payload_sha256);
  std::string date = absl::FormatTime("%Y%m%d", req.time, absl::UTCTimeZone());
  std::string scope = absl::StrCat(date, "/", req.region, "/", req.service, "/aws4_request");
  sig.string_to_sign = absl::StrCat("AWS4-HMAC-SHA256\n", AmzDate(req.time), "\n", scope, "\n",
                                    Sha256Hex(sig.canonical_request));
  std::string key = HmacSha256(absl::StrCat("AWS4", req.secret_key), date);
  key = HmacSha256(key, req.region);
  key = HmacSha256(key, req.service);
  key = HmacSha256(key, "aws4_request");
  std::string mac = HmacSha256(key, sig.string_to_sign);
  sig.signature = Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  sig.authorization = absl::StrCat("AWS4-HMAC-SHA256 Credential=", req.access_key, "/", scope,
                                   ",SignedHeaders=", signed_headers, ",Signature=", sig.signature);
  return sig;
}

}  // namespace mdb::storage::s3
