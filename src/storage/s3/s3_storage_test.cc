// S3 driver against a real S3 server (versitygw, see scripts/peers/versitygw.sh): the storage
// conformance suite and the errors a real server gives. Skipped unless MDB_S3_ENDPOINT is set;
// the retry, multipart and listing logic is tested against a fake server in s3_fake_test.cc.
#include "storage/s3/s3_storage.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/conformance_test.h"
#include "storage/s3/s3_client.h"

namespace mdb::storage {
namespace {

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? "" : v;
}

// Options for the real server named by the environment, with a fresh random prefix.
S3Options RealOptions() {
  S3Options o;
  o.endpoint = Env("MDB_S3_ENDPOINT");
  o.bucket = Env("MDB_S3_BUCKET").empty() ? "mdb-test" : Env("MDB_S3_BUCKET");
  o.access_key = Env("AWS_ACCESS_KEY_ID");
  o.secret_key = Env("AWS_SECRET_ACCESS_KEY");
  std::random_device rd;
  o.prefix = absl::StrCat("t/", absl::Hex(rd(), absl::kZeroPad8), absl::Hex(rd(), absl::kZeroPad8));
  o.base_backoff = absl::Milliseconds(5);
  o.max_backoff = absl::Milliseconds(100);
  return o;
}

// Starts a multipart upload and leaves it open, as a writer that crashed would.
void StartUpload(const S3Options& o, const std::string& key) {
  s3::Client client(o, *s3::ParseEndpoint(o.endpoint));
  s3::Request req("POST", absl::StrCat(o.prefix, "/", key), {{"uploads", ""}});
  auto r = client.Send(req);
  ASSERT_TRUE(r.ok()) << r.status();
}

// The server was promised but does not work: that is a failure, not a reason to skip.
std::unique_ptr<Storage> OpenOrFail(const S3Options& o) {
  auto s = OpenS3Storage(o);
  if (!s.ok()) ADD_FAILURE() << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::unique_ptr<Storage> FreshS3() {
  if (Env("MDB_S3_ENDPOINT").empty()) return nullptr;
  return OpenOrFail(RealOptions());
}

// The same server addressed virtual-host style (bucket.localhost:port), when it is set up for it.
std::unique_ptr<Storage> FreshS3VirtualHost() {
  if (Env("MDB_S3_VHOST_ENDPOINT").empty()) return nullptr;
  S3Options o = RealOptions();
  o.endpoint = Env("MDB_S3_VHOST_ENDPOINT");
  o.path_style = false;
  return OpenOrFail(o);
}

INSTANTIATE_TEST_SUITE_P(S3, StorageConformance, ::testing::Values(StorageFactory(FreshS3)));
INSTANTIATE_TEST_SUITE_P(S3VirtualHost, StorageConformance,
                         ::testing::Values(StorageFactory(FreshS3VirtualHost)));

// CI sets MDB_S3_REQUIRED=1 so that a missing server fails instead of skipping silently.
TEST(S3Storage, ServerPresentWhenRequired) {
  if (Env("MDB_S3_REQUIRED") == "1" && Env("MDB_S3_ENDPOINT").empty()) {
    FAIL() << "MDB_S3_REQUIRED=1 but MDB_S3_ENDPOINT is not set; start a server with "
              "scripts/peers/versitygw.sh start DIR 7070 and export MDB_S3_ENDPOINT, "
              "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY";
  }
}

class RealS3 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("MDB_S3_ENDPOINT").empty()) GTEST_SKIP() << "MDB_S3_ENDPOINT not set";
  }
};

TEST_F(RealS3, MissingBucketIsReportedOnOpen) {
  S3Options o = RealOptions();
  o.bucket = "mdb-no-such-bucket";
  auto s = OpenS3Storage(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "s3 bucket 'mdb-no-such-bucket' at http"))
      << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "NoSuchBucket")) << s.status();
}

TEST_F(RealS3, WrongSecretIsPermissionDenied) {
  S3Options o = RealOptions();
  o.secret_key = "wrong";
  auto s = OpenS3Storage(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kPermissionDenied) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "SignatureDoesNotMatch")) << s.status();
}

TEST_F(RealS3, OpensFromUrl) {
  S3Options o = RealOptions();
  std::string url = absl::StrCat("s3://", o.bucket, "/", o.prefix, "?endpoint=", o.endpoint,
                                 "&region=us-east-1&path_style=true");
  auto s = OpenStorage(url);
  ASSERT_TRUE(s.ok()) << s.status();
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
TEST_F(RealS3, ListFollowsTheServersContinuationTokens) {
  S3Options o = RealOptions();
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
TEST_F(RealS3, RangesAtTheEdges) {
  auto s = OpenS3Storage(RealOptions());
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

TEST_F(RealS3, RemoveIncompleteAbortsOldUploads) {
  S3Options o = RealOptions();
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  StartUpload(o, "packs/half");
  ASSERT_TRUE((*s)->Put("packs/whole", "x").ok());
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::Hours(1)), 0);  // too young
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::ZeroDuration()), 1);
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::ZeroDuration()), 0);
  EXPECT_EQ(*(*s)->Get("packs/whole"), "x");
}

}  // namespace
}  // namespace mdb::storage
