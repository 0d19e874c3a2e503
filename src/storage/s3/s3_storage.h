// Storage on any S3-compatible object store (AWS SigV4 over libcurl).
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "storage/storage.h"

namespace mdb::storage {

struct S3Options {
  std::string endpoint;  // "http://127.0.0.1:7070" or "https://s3.example.com"
  std::string bucket;    // must exist
  std::string prefix;    // key prefix inside the bucket ("" or "a/b"), no slashes at ends
  std::string region = "us-east-1";
  // Static credentials. When access_key is empty they come from the chain in credentials.h
  // (environment, web identity, shared files of `profile`).
  std::string access_key;
  std::string secret_key;
  std::string session_token;
  std::string profile;       // a profile of the shared files; "" = AWS_PROFILE or "default"
  std::string sts_endpoint;  // for web identity; "" = AWS_ENDPOINT_URL_STS or AWS's regional one
  bool path_style = true;    // false: virtual-host addressing (bucket.endpoint-host)
  std::string ca_file;       // PEM bundle of the CAs a TLS endpoint is checked against
  // Server-side encryption of new objects: "" (the bucket's default), "AES256" (SSE-S3) or
  // "aws:kms" (SSE-KMS, with sse_kms_key_id or the account's default key).
  std::string sse;
  std::string sse_kms_key_id;
  std::string storage_class;                // "" = STANDARD; never an archive class (see Open)
  uint64_t multipart_threshold = 16 << 20;  // Put of more bytes uses multipart upload
  uint64_t part_size = 8 << 20;             // >= 5 MiB, as S3 requires for all but the last part
  int upload_concurrency = 4;               // parts of one multipart upload sent at once
  int max_attempts = 6;  // per request: 1 try + retries on 5xx, 429, timeouts, resets
  absl::Duration base_backoff = absl::Milliseconds(100);  // doubled per retry, with full jitter
  absl::Duration max_backoff = absl::Seconds(5);
  absl::Duration request_timeout = absl::Seconds(120);
  int list_page_size = 1000;  // max-keys per ListObjectsV2 page (S3's own maximum)
};

// Opens an S3 storage; checks that the bucket is reachable (one request).
absl::StatusOr<std::unique_ptr<Storage>> OpenS3Storage(const S3Options& options);

// Reads "s3://bucket/prefix?endpoint=URL&region=R&path_style=true|false&..." (every parameter is
// in docs/configuration.md). Secrets never go in the URL: credentials come from the chain in
// credentials.h.
absl::StatusOr<S3Options> ParseS3Location(const std::string& url);

// ParseS3Location, then OpenS3Storage.
absl::StatusOr<std::unique_ptr<Storage>> OpenS3Storage(const std::string& url);

}  // namespace mdb::storage
