// For the tests against real S3 servers: which servers the environment names (versitygw from
// scripts/peers/versitygw.sh, MinIO from scripts/peers/minio.sh) and options for each, with a
// fresh random prefix per test.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/s3/s3_storage.h"

namespace mdb::storage {

inline std::string Env(const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? "" : v;
}

struct RealServer {
  std::string name;  // "versitygw", "minio"
  std::string endpoint, vhost_endpoint, bucket, access_key, secret_key;
  std::string kms_key;  // MinIO's built-in KMS key, for SSE
};

inline RealServer Versitygw() {
  return {.name = "versitygw",
          .endpoint = Env("MDB_S3_ENDPOINT"),
          .vhost_endpoint = Env("MDB_S3_VHOST_ENDPOINT"),
          .bucket = Env("MDB_S3_BUCKET").empty() ? "mdb-test" : Env("MDB_S3_BUCKET"),
          .access_key = Env("AWS_ACCESS_KEY_ID"),
          .secret_key = Env("AWS_SECRET_ACCESS_KEY")};
}

inline RealServer Minio() {
  return {.name = "minio",
          .endpoint = Env("MDB_MINIO_ENDPOINT"),
          .vhost_endpoint = Env("MDB_MINIO_VHOST_ENDPOINT"),
          .bucket = Env("MDB_MINIO_BUCKET"),
          .access_key = Env("MDB_MINIO_ACCESS_KEY"),
          .secret_key = Env("MDB_MINIO_SECRET_KEY"),
          .kms_key = Env("MDB_MINIO_KMS_KEY")};
}

inline RealServer ServerNamed(const std::string& name) {
  return name == "minio" ? Minio() : Versitygw();
}

inline std::string ServerName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

inline S3Options RealOptions(const RealServer& server) {
  S3Options o;
  o.endpoint = server.endpoint;
  o.bucket = server.bucket;
  o.access_key = server.access_key;
  o.secret_key = server.secret_key;
  std::random_device rd;
  o.prefix = absl::StrCat("t/", absl::Hex(rd(), absl::kZeroPad8), absl::Hex(rd(), absl::kZeroPad8));
  o.base_backoff = absl::Milliseconds(5);
  o.max_backoff = absl::Milliseconds(100);
  return o;
}

// Tests over every real server; each skips when its server is not running.
class RealS3 : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    server_ = ServerNamed(GetParam());
    if (server_.endpoint.empty()) GTEST_SKIP() << server_.name << " is not running";
  }
  RealServer server_;
};

}  // namespace mdb::storage
