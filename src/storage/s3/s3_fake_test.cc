// S3 driver against a small in-process fake S3 (cpp-httplib) that injects faults: retries and
// their budget, error mapping, multipart upload and abort, paginated listing, URL parsing.
#include "storage/s3/s3_fake.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/scoped_env.h"
#include "storage/s3/s3_storage.h"

namespace mdb::storage {
namespace {

using s3::FakeS3;

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? "" : v;
}

TEST(S3Retries, PutSucceedsAfterTransient503s) {
  FakeS3 fake;
  auto s = OpenS3Storage(fake.Options());
  ASSERT_TRUE(s.ok()) << s.status();
  fake.Fail("PUT", 2, 503, "SlowDown");
  ASSERT_TRUE((*s)->Put("packs/ab", "data").ok());
  EXPECT_EQ(fake.Count("PUT"), 3);
  EXPECT_EQ(*(*s)->Get("packs/ab"), "data");
}

// A 200 answer to a listing that is not XML (a proxy's page) is an error, never an empty listing:
// an empty one would tell GC and verify that nothing is stored.
TEST(S3Listing, AReplyThatIsNotXmlIsUnavailableNotEmpty) {
  FakeS3 fake;
  auto s = OpenS3Storage(fake.Options());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("packs/ab", "data").ok());
  ASSERT_EQ((*s)->List("packs/")->size(), 1u);
  fake.list_html_ = true;
  auto listed = (*s)->List("packs/");
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kUnavailable) << listed.status();
}

TEST(S3Retries, TooManyRequestsIsRetried) {
  FakeS3 fake;
  auto s = OpenS3Storage(fake.Options());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("k", "v").ok());
  fake.Fail("GET", 1, 429, "TooManyRequests");
  EXPECT_EQ(*(*s)->Get("k"), "v");
}

TEST(S3Retries, SpentBudgetIsUnavailableWithAClearMessage) {
  FakeS3 fake;
  auto s = OpenS3Storage(fake.Options());
  ASSERT_TRUE(s.ok()) << s.status();
  fake.Fail("PUT", 100, 503, "SlowDown");
  absl::Status st = (*s)->Put("packs/ab", "data");
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(st.message(),
            "s3 PUT 'pre/packs/ab': gave up after 4 attempts: HTTP 503 SlowDown: Please reduce "
            "your request rate.");
  EXPECT_EQ(fake.Count("PUT"), 4);
}

TEST(S3Retries, ForbiddenIsNotRetried) {
  FakeS3 fake;
  auto s = OpenS3Storage(fake.Options());
  ASSERT_TRUE(s.ok()) << s.status();
  fake.Fail("PUT", 100, 403, "AccessDenied");
  absl::Status st = (*s)->Put("k", "v");
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(st.message(), "s3 PUT 'pre/k': HTTP 403 AccessDenied: Access Denied");
  EXPECT_EQ(fake.Count("PUT"), 1);
}

TEST(S3Retries, TimeoutsAreRetried) {
  FakeS3 fake;
  S3Options o = fake.Options();
  // The late answer comes long after the timeout; the timeout itself is generous, so that a
  // loaded machine answering slowly does not look like a hang. What must hold: the late request
  // was given up and at least one retry answered.
  o.request_timeout = absl::Seconds(1);
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("k", "v").ok());
  int before = fake.Count("GET");
  fake.Delay("GET", 1, 2500);
  auto got = (*s)->Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "v");
  EXPECT_GE(fake.Count("GET") - before, 2);  // the late answer, then the retry(s)
}

TEST(S3Retries, UnreachableEndpointSpendsTheBudgetOnOpen) {
  S3Options o;
  o.endpoint = "http://127.0.0.1:1";
  o.bucket = "b";
  o.access_key = "a";
  o.secret_key = "s";
  o.max_attempts = 3;
  o.base_backoff = absl::Milliseconds(1);
  auto s = OpenS3Storage(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StartsWith(s.status().message(),
                               "s3 bucket 'b' at http://127.0.0.1:1: gave up after 3 attempts: "
                               "curl error 7"))
      << s.status();
}

TEST(S3Open, MissingBucketIsNotFound) {
  FakeS3 fake;
  S3Options o = fake.Options();
  o.bucket = "other";
  auto s = OpenS3Storage(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.status().message(), absl::StrCat("s3 bucket 'other' at ", o.endpoint,
                                               ": HTTP 404 NoSuchBucket: no such bucket"));
}

TEST(S3Open, ParsesUrlsAndNeedsCredentials) {
  FakeS3 fake;
  std::string endpoint = fake.Options().endpoint;
  common::ScopedEnv env;
  env.Set("AWS_ACCESS_KEY_ID", std::nullopt)
      .Set("AWS_ROLE_ARN", std::nullopt)
      .Set("AWS_PROFILE", std::nullopt)
      .Set("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
      .Set("AWS_CONFIG_FILE", "/nonexistent/config");
  auto s = OpenS3Storage("s3://fake-bucket/pre?endpoint=" + endpoint);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.status().message(),
                                "no S3 credentials found; looked at AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY, AWS_ROLE_ARN and "
                                "AWS_WEB_IDENTITY_TOKEN_FILE, profile 'default' in "
                                "/nonexistent/credentials"))
      << s.status();
  env.Set("AWS_ACCESS_KEY_ID", "AKFAKE").Set("AWS_SECRET_ACCESS_KEY", "secret");
  s = OpenS3Storage("s3://fake-bucket/pre/?endpoint=" + endpoint + "&region=eu-west-1");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->Describe(), "s3://fake-bucket/pre");
  EXPECT_EQ(OpenS3Storage("s3://fake-bucket?endpoint=" + endpoint + "&bogus=1").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto vhost = OpenS3Storage("s3://fake-bucket?endpoint=" + endpoint + "&path_style=false");
  EXPECT_TRUE(absl::StrContains(vhost.status().message(), "use path_style=true")) << vhost.status();
}

TEST(S3Open, VirtualHostAddressing) {
  FakeS3 fake;
  S3Options o = fake.Options();
  o.endpoint = absl::StrReplaceAll(o.endpoint, {{"127.0.0.1", "localhost"}});
  o.path_style = false;  // bucket.localhost, which curl resolves to the loopback address itself
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("k", "v").ok());
  EXPECT_EQ(*(*s)->Get("k"), "v");
  EXPECT_EQ((*(*s)->List(""))[0].key, "k");
  EXPECT_EQ(fake.Count("virtual-host"), 4);  // probe, put, get, list
}

TEST(S3List, FollowsContinuationTokensAndStripsThePrefix) {
  FakeS3 fake;
  auto s = OpenS3Storage(fake.Options());
  ASSERT_TRUE(s.ok()) << s.status();
  for (const char* k : {"d/3", "d/1", "d/5", "d/2", "d/4", "e"}) ASSERT_TRUE((*s)->Put(k, k).ok());
  int before = fake.Count("GET");
  auto list = (*s)->List("d/");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(fake.Count("GET") - before, 3);  // pages of 2, 2, 1
  std::vector<std::string> keys;
  for (const auto& o : *list) keys.push_back(o.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"d/1", "d/2", "d/3", "d/4", "d/5"}));
  EXPECT_EQ((*list)[0].size, 3u);
  EXPECT_EQ((*list)[0].modified,
            absl::FromCivil(absl::CivilSecond(2024, 1, 2, 3, 4, 5), absl::UTCTimeZone()));
}

}  // namespace
}  // namespace mdb::storage
