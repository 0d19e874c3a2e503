// The repository's S3 location as one URL, so that a config file, the CLI's --repo and the
// catalog's record of where backups went all say the same thing.
#include <cstdlib>
#include <functional>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "storage/s3/s3_storage.h"

namespace mdb::storage {
namespace {

std::string PercentDecode(absl::string_view s) {
  auto hex = [](char c) {
    return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && absl::ascii_isxdigit(s[i + 1]) &&
        absl::ascii_isxdigit(s[i + 2])) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<S3Options> ParseS3Location(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid s3 location '", url, "': ", why));
  };
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "s3://")) return bad("expected s3://bucket/prefix?endpoint=...");
  S3Options o;
  size_t q = rest.find('?');
  absl::string_view path = rest.substr(0, q);
  absl::string_view query = q == absl::string_view::npos ? "" : rest.substr(q + 1);
  size_t slash = path.find('/');
  o.bucket = std::string(path.substr(0, slash));
  if (slash != absl::string_view::npos) o.prefix = std::string(path.substr(slash + 1));
  if (o.bucket.empty()) return bad("no bucket");

  std::string path_style;
  auto number = [&](const std::string& name, const std::string& v, int64_t lo, int64_t hi,
                    int64_t* out) -> absl::Status {
    if (!absl::SimpleAtoi(v, out) || *out < lo || *out > hi) {
      return bad(absl::StrCat(name, " must be a whole number from ", lo, " to ", hi));
    }
    return absl::OkStatus();
  };
  // One setter per parameter; the names are the documented ones.
  std::map<std::string, std::function<absl::Status(const std::string&)>> params = {
      {"endpoint", [&](const std::string& v) { return o.endpoint = v, absl::OkStatus(); }},
      {"region", [&](const std::string& v) { return o.region = v, absl::OkStatus(); }},
      {"path_style",
       [&](const std::string& v) {
         if (v != "true" && v != "false") return bad("path_style must be true or false");
         return path_style = v, absl::OkStatus();
       }},
      {"profile", [&](const std::string& v) { return o.profile = v, absl::OkStatus(); }},
      {"sts_endpoint", [&](const std::string& v) { return o.sts_endpoint = v, absl::OkStatus(); }},
      {"ca_file", [&](const std::string& v) { return o.ca_file = v, absl::OkStatus(); }},
      {"sse", [&](const std::string& v) { return o.sse = v, absl::OkStatus(); }},
      {"sse_kms_key_id",
       [&](const std::string& v) { return o.sse_kms_key_id = v, absl::OkStatus(); }},
      {"storage_class",
       [&](const std::string& v) { return o.storage_class = v, absl::OkStatus(); }},
      {"timeout",
       [&](const std::string& v) {
         if (!absl::ParseDuration(v, &o.request_timeout) || o.request_timeout < absl::Seconds(1) ||
             o.request_timeout > absl::Hours(1)) {
           return bad("timeout must be a duration from 1s to 1h, like 30s or 2m");
         }
         return absl::OkStatus();
       }},
      {"max_attempts",
       [&](const std::string& v) {
         int64_t n = 0;
         RETURN_IF_ERROR(number("max_attempts", v, 1, 100, &n));
         return o.max_attempts = static_cast<int>(n), absl::OkStatus();
       }},
      {"part_size_mb",
       [&](const std::string& v) {
         int64_t n = 0;
         RETURN_IF_ERROR(number("part_size_mb", v, 5, 5120, &n));
         o.part_size = static_cast<uint64_t>(n) << 20;
         o.multipart_threshold = std::max(o.multipart_threshold, o.part_size);
         return absl::OkStatus();
       }},
      {"upload_concurrency",
       [&](const std::string& v) {
         int64_t n = 0;
         RETURN_IF_ERROR(number("upload_concurrency", v, 1, 64, &n));
         return o.upload_concurrency = static_cast<int>(n), absl::OkStatus();
       }},
  };
  for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    auto it = params.find(std::string(p.first));
    if (it == params.end()) {
      std::vector<std::string> known;
      for (const auto& [name, set] : params) known.push_back(name);
      return bad(absl::StrCat("unknown parameter '", p.first,
                              "' (known: ", absl::StrJoin(known, ", "), ")"));
    }
    RETURN_IF_ERROR(it->second(PercentDecode(p.second)));
  }
  if (o.endpoint.empty()) {
    // Without an endpoint this is AWS itself, which prefers virtual-host addressing.
    o.endpoint = absl::StrCat("https://s3.", o.region, ".amazonaws.com");
    o.path_style = path_style == "true";
  } else {
    o.path_style = path_style != "false";
  }
  return o;
}

absl::StatusOr<std::unique_ptr<Storage>> OpenS3Storage(const std::string& url) {
  ASSIGN_OR_RETURN(S3Options o, ParseS3Location(url));
  // As AWS's own tools do: a CA bundle for every endpoint from the environment, unless the
  // location names one.
  const char* bundle = getenv("AWS_CA_BUNDLE");
  if (o.ca_file.empty() && bundle != nullptr) o.ca_file = bundle;
  return OpenS3Storage(o);
}

}  // namespace mdb::storage
