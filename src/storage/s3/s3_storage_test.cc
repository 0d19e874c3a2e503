// S3 driver against real S3 servers (versitygw and MinIO, see scripts/peers/): the storage
// conformance suite and the errors a real server gives. Each server's tests are skipped unless
// its endpoint is set; the retry, multipart and listing logic is tested against a fake server in
// s3_fake_test.cc and s3_uploads_test.cc; faults on real servers in s3_real_faults_test.cc.
#include "storage/s3/s3_storage.h"

#include <gtest/gtest.h>

#include <fstream>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/scoped_env.h"
#include "storage/conformance_test.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_fake.h"
#include "storage/s3/s3_real_test.h"

namespace mdb::storage {
namespace {

// The server was promised but does not work: that is a failure, not a reason to skip.
std::unique_ptr<Storage> OpenOrFail(const S3Options& o) {
  auto s = OpenS3Storage(o);
  if (!s.ok()) ADD_FAILURE() << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

StorageFactory Fresh(RealServer (*server)(), bool virtual_host) {
  return [server, virtual_host]() -> std::unique_ptr<Storage> {
    RealServer srv = server();
    if (srv.endpoint.empty() || (virtual_host && srv.vhost_endpoint.empty())) return nullptr;
    S3Options o = RealOptions(srv);
    if (virtual_host) {
      // bucket.localhost:port, which curl resolves to the loopback address by itself.
      o.endpoint = srv.vhost_endpoint;
      o.path_style = false;
    }
    return OpenOrFail(o);
  };
}

INSTANTIATE_TEST_SUITE_P(S3, StorageConformance, ::testing::Values(Fresh(Versitygw, false)));
INSTANTIATE_TEST_SUITE_P(S3VirtualHost, StorageConformance,
                         ::testing::Values(Fresh(Versitygw, true)));
INSTANTIATE_TEST_SUITE_P(MinIO, StorageConformance, ::testing::Values(Fresh(Minio, false)));
INSTANTIATE_TEST_SUITE_P(MinIOVirtualHost, StorageConformance,
                         ::testing::Values(Fresh(Minio, true)));
INSTANTIATE_TEST_SUITE_P(Servers, RealS3, ::testing::Values("versitygw", "minio"), ServerName);

// CI sets MDB_S3_REQUIRED=1 and MDB_MINIO_REQUIRED=1 so that a missing server fails instead of
// skipping silently.
TEST(S3Storage, ServersPresentWhenRequired) {
  if (Env("MDB_S3_REQUIRED") == "1" && Env("MDB_S3_ENDPOINT").empty()) {
    FAIL() << "MDB_S3_REQUIRED=1 but MDB_S3_ENDPOINT is not set; start a server with "
              "scripts/peers/versitygw.sh start DIR 7070 and export MDB_S3_ENDPOINT, "
              "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY";
  }
  if (Env("MDB_MINIO_REQUIRED") == "1" && Env("MDB_MINIO_ENDPOINT").empty()) {
    FAIL() << "MDB_MINIO_REQUIRED=1 but MDB_MINIO_ENDPOINT is not set; start MinIO with "
              "scripts/peers/minio.sh start DIR 9000 and export what it prints";
  }
}

TEST_P(RealS3, MissingBucketIsReportedOnOpen) {
  S3Options o = RealOptions(server_);
  o.bucket = "mdb-no-such-bucket";
  auto s = OpenS3Storage(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "s3 bucket 'mdb-no-such-bucket' at http"))
      << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "NoSuchBucket")) << s.status();
}

TEST_P(RealS3, WrongSecretIsPermissionDenied) {
  S3Options o = RealOptions(server_);
  o.secret_key = "wrong";
  auto s = OpenS3Storage(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kPermissionDenied) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "SignatureDoesNotMatch")) << s.status();
  EXPECT_FALSE(absl::StrContains(s.status().message(), "wrong")) << s.status();  // the secret
}

// A TLS endpoint whose certificate a private CA signed: refused without the CA bundle, with a
// message that says why, and served with it.
TEST(S3Tls, ACaBundleIsWhatMakesAPrivateCaTrusted) {
  if (Env("MDB_S3_TLS_ENDPOINT").empty()) {
    if (Env("MDB_S3_REQUIRED") == "1") FAIL() << "MDB_S3_REQUIRED=1 but no MDB_S3_TLS_ENDPOINT";
    GTEST_SKIP() << "no TLS endpoint (scripts/peers/versitygw.sh start DIR PORT tls)";
  }
  S3Options o = RealOptions(Versitygw());
  o.endpoint = Env("MDB_S3_TLS_ENDPOINT");
  auto refused = OpenS3Storage(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "SSL certificate problem"))
      << refused.status();
  EXPECT_FALSE(absl::StrContains(refused.status().message(), "gave up after"))
      << "not retried: it would fail the same way";
  o.ca_file = Env("MDB_S3_CA_FILE");
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("k", "over tls").ok());
  EXPECT_EQ(*(*s)->Get("k"), "over tls");
}

// From a URL with a named profile of the shared credentials file, as a config file would say it.
TEST_P(RealS3, OpensFromUrlWithAProfile) {
  S3Options o = RealOptions(server_);
  std::string file = absl::StrCat(testing::TempDir(), "/credentials-", server_.name);
  std::ofstream(file) << "[other]\naws_access_key_id = nobody\naws_secret_access_key = x\n"
                      << "[mdb-" << server_.name << "]\naws_access_key_id = " << o.access_key
                      << "\naws_secret_access_key = " << o.secret_key << "\n";
  common::ScopedEnv env;
  env.Set("AWS_SHARED_CREDENTIALS_FILE", file);
  std::string url = absl::StrCat("s3://", o.bucket, "/", o.prefix, "?endpoint=", o.endpoint,
                                 "&region=us-east-1&path_style=true&profile=mdb-", server_.name);
  auto s = OpenStorage(url);
  auto other = OpenStorage(absl::StrCat(url.substr(0, url.find("&profile=")), "&profile=other"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied) << other.status();
  EXPECT_EQ((*s)->Describe(), absl::StrCat("s3://", o.bucket, "/", o.prefix));
  ASSERT_TRUE((*s)->Put("x", "1").ok());
  EXPECT_EQ(*(*s)->Get("x"), "1");
  auto info = (*s)->Stat("x");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_LT(absl::AbsDuration(info->modified - absl::Now()), absl::Minutes(5));
  EXPECT_LT(absl::AbsDuration((*(*s)->List(""))[0].modified - info->modified), absl::Seconds(2));
}

// Pagination against the real server, not only the fake: pages of two keys, continuation tokens
// as the server makes them, every key once and in order.
TEST_P(RealS3, ListFollowsTheServersContinuationTokens) {
  S3Options o = RealOptions(server_);
  o.list_page_size = 2;
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<std::string> want;
  for (int i = 0; i < 7; ++i) {
    want.push_back(absl::StrCat("page/k", i));
    ASSERT_TRUE((*s)->Put(want.back(), "v").ok());
  }
  ASSERT_TRUE((*s)->Put("other", "v").ok());  // outside the prefix
  auto got = (*s)->List("page/");
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<std::string> keys;
  for (const auto& info : *got) keys.push_back(info.key);
  EXPECT_EQ(keys, want);
}

// Ranges at and past the end, which servers answer with 206 (trimmed), 416 or, for an empty
// object, 416 or a 200 with the whole (empty) object.
TEST_P(RealS3, RangesAtTheEdges) {
  auto s = OpenS3Storage(RealOptions(server_));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("ten", "0123456789").ok());
  ASSERT_TRUE((*s)->Put("empty", "").ok());
  EXPECT_EQ(*(*s)->GetRange("ten", 9, 1), "9");
  EXPECT_EQ(*(*s)->GetRange("ten", 10, 0), "");
  for (auto [key, offset, length] :
       std::vector<std::tuple<std::string, uint64_t, uint64_t>>{{"ten", 10, 1},
                                                                {"ten", 9, 2},
                                                                {"ten", 20, 1},
                                                                {"ten", 11, 0},
                                                                {"empty", 0, 1},
                                                                {"ten", 1, ~uint64_t{0}}}) {
    EXPECT_EQ((*s)->GetRange(key, offset, length).status().code(), absl::StatusCode::kOutOfRange)
        << key << " " << offset << "+" << length;
  }
  EXPECT_EQ(*(*s)->GetRange("empty", 0, 0), "");
  EXPECT_EQ((*s)->GetRange("nothing", 0, 0).status().code(), absl::StatusCode::kNotFound);
}

// An upload this driver did not start (no marker): found by the prefix listing where the server
// offers one. MinIO lists uploads by exact key only, so there such an upload stays unknown; the
// driver's own uploads are found through their markers (s3_real_faults_test.cc).
TEST_P(RealS3, RemoveIncompleteAbortsOldUploads) {
  S3Options o = RealOptions(server_);
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  s3::StartUpload(o, "packs/half");
  ASSERT_TRUE((*s)->Put("packs/whole", "x").ok());
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::Hours(1)), 0);  // too young
  int prefix_listing_finds = server_.name == "minio" ? 0 : 1;
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::ZeroDuration()), prefix_listing_finds);
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::ZeroDuration()), 0);
  EXPECT_EQ(*(*s)->Get("packs/whole"), "x");
}

}  // namespace
}  // namespace mdb::storage
