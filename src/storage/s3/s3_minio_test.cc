// What MinIO offers and versitygw does not: temporary credentials from its STS, and server-side
// encryption with its built-in KMS key (scripts/peers/minio.sh sets one up).
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/scoped_env.h"
#include "storage/s3/local_http_server.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_real_test.h"
#include "storage/s3/sigv4.h"
#include "storage/s3/sts.h"

namespace mdb::storage {
namespace {

class MinioOnly : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = storage::Minio();
    if (server_.endpoint.empty()) GTEST_SKIP() << "MinIO is not running";
  }

  // STS AssumeRole of the root user, signed for the "sts" service: what an operator's tooling
  // would hand the service as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
  s3::Credentials AssumeRole() {
    std::string body = "Action=AssumeRole&DurationSeconds=900&Version=2011-06-15";
    auto ep = *s3::ParseEndpoint(server_.endpoint);
    absl::Time now = absl::Now();
    s3::SigningRequest sreq{.method = "POST",
                            .canonical_uri = "/",
                            .payload_sha256 = s3::Sha256Hex(body),
                            .time = now,
                            .region = "us-east-1",
                            .access_key = server_.access_key,
                            .secret_key = server_.secret_key,
                            .service = "sts"};
    sreq.headers = {{"host", ep.authority},
                    {"x-amz-content-sha256", sreq.payload_sha256},
                    {"x-amz-date", s3::AmzDate(now)}};
    httplib::Headers headers;
    for (const auto& [k, v] : sreq.headers) headers.emplace(k, v);
    headers.emplace("Authorization", s3::SignV4(sreq).authorization);
    httplib::Client client(server_.endpoint);
    auto r = client.Post("/", headers, body, "application/x-www-form-urlencoded");
    EXPECT_TRUE(r) << "no answer from MinIO's STS";
    if (!r) return {};
    auto c = s3::ParseStsReply(r->status, r->body);
    EXPECT_TRUE(c.ok()) << c.status() << " " << r->body;
    return c.value_or(s3::Credentials{});
  }

  s3::Response Head(const S3Options& o, const std::string& key) {
    s3::Client client(o, *s3::ParseEndpoint(o.endpoint));
    auto r = client.Send(s3::Request("HEAD", absl::StrCat(o.prefix, "/", key)));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(s3::Response{});
  }

  RealServer server_;
};

TEST_F(MinioOnly, SessionTokenIsSentAndNeeded) {
  s3::Credentials temp = AssumeRole();
  ASSERT_FALSE(temp.session_token.empty());
  S3Options o = RealOptions(server_);
  o.access_key = temp.access_key;
  o.secret_key = temp.secret_key;
  o.session_token = temp.session_token;
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("k", "v").ok());
  EXPECT_EQ(*(*s)->Get("k"), "v");
  o.session_token = "";  // the same keys without their token are refused
  auto without = OpenS3Storage(o);
  EXPECT_EQ(without.status().code(), absl::StatusCode::kPermissionDenied) << without.status();
  EXPECT_FALSE(absl::StrContains(without.status().message(), temp.secret_key));
}

// A stand-in for the identity side only: it checks the token against the file the service
// read, and hands out real temporary credentials of MinIO's, which MinIO then checks on every
// request. (MinIO's own AssumeRoleWithWebIdentity needs an OpenID provider with signed JWTs.)
TEST_F(MinioOnly, WebIdentityCredentialsFromStsWork) {
  std::string dir = testing::TempDir();
  std::string token_file = absl::StrCat(dir, "/web-identity-token");
  std::ofstream(token_file) << "eyJ.service-account-token\n";
  std::atomic<int> exchanges{0};
  std::string seen_form;
  s3::LocalHttpServer sts([&](const httplib::Request& req, httplib::Response& res) {
    seen_form = req.body;
    if (req.get_param_value("WebIdentityToken") != "eyJ.service-account-token" ||
        req.get_param_value("RoleArn") != "arn:aws:iam::123:role/backup") {
      res.status = 403;
      return res.set_content(
          "<ErrorResponse><Error><Code>AccessDenied</Code></Error>"
          "</ErrorResponse>",
          "text/xml");
    }
    ++exchanges;
    s3::Credentials c = AssumeRole();
    res.set_content(
        absl::StrCat("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                     "<Credentials><AccessKeyId>",
                     c.access_key, "</AccessKeyId><SecretAccessKey>", c.secret_key,
                     "</SecretAccessKey><SessionToken>", c.session_token,
                     "</SessionToken><Expiration>",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", c.expiration, absl::UTCTimeZone()),
                     "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
                     "</AssumeRoleWithWebIdentityResponse>"),
        "text/xml");
  });

  S3Options o = RealOptions(server_);
  o.access_key = o.secret_key = "";
  o.sts_endpoint = sts.url() + "/";
  common::ScopedEnv env;
  env.Set("AWS_ACCESS_KEY_ID", std::nullopt)
      .Set("AWS_ROLE_ARN", "arn:aws:iam::123:role/backup")
      .Set("AWS_WEB_IDENTITY_TOKEN_FILE", token_file);
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("k", "v").ok());
  EXPECT_EQ(*(*s)->Get("k"), "v");
  EXPECT_EQ(exchanges, 1);  // fetched once, kept while valid
  EXPECT_TRUE(absl::StrContains(seen_form, "Action=AssumeRoleWithWebIdentity")) << seen_form;
}

TEST_F(MinioOnly, ObjectsAreEncryptedAsConfigured) {
  S3Options o = RealOptions(server_);
  o.multipart_threshold = 5 << 20;
  o.part_size = 5 << 20;
  o.sse = "AES256";
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("small", "v").ok());
  ASSERT_TRUE((*s)->Put("big", std::string(6 << 20, 'x')).ok());  // multipart
  EXPECT_EQ(Head(o, "small").Header("x-amz-server-side-encryption"), "AES256");
  EXPECT_EQ(Head(o, "big").Header("x-amz-server-side-encryption"), "AES256");
  EXPECT_EQ(*(*s)->Get("small"), "v");

  o.sse = "aws:kms";
  o.sse_kms_key_id = server_.kms_key;
  s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("kms", "w").ok());
  s3::Response head = Head(o, "kms");
  EXPECT_EQ(head.Header("x-amz-server-side-encryption"), "aws:kms");
  EXPECT_TRUE(absl::StrContains(head.Header("x-amz-server-side-encryption-aws-kms-key-id"),
                                server_.kms_key))
      << head.Header("x-amz-server-side-encryption-aws-kms-key-id");
  EXPECT_EQ(*(*s)->Get("kms"), "w");

  o.sse_kms_key_id = "no-such-key";  // refused by the server, and the error says so
  s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  absl::Status put = (*s)->Put("kms2", "w");
  EXPECT_FALSE(put.ok());
  EXPECT_TRUE(absl::StrContains(put.message(), "PUT")) << put;
}

}  // namespace
}  // namespace mdb::storage
