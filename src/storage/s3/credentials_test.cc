// The credentials chain: its order, the shared files, refresh of temporary credentials on a fake
// clock, the STS exchange against a local stand-in (no STS here to ask), and the session token
// on the wire (the fake S3 checks that it is sent and signed).
#include "storage/s3/credentials.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/test_dir.h"
#include "storage/s3/local_http_server.h"
#include "storage/s3/s3_fake.h"
#include "storage/s3/sts.h"

namespace mdb::storage::s3 {
namespace {

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(ProfileKeys, ReadsTheNamedSection) {
  std::string credentials =
      "# a comment\n[default]\naws_access_key_id = AKDEF\naws_secret_access_key = s1\n\n"
      "[backup]\r\naws_access_key_id=AKBAK\r\naws_secret_access_key=s2\r\n"
      "aws_session_token = tok\r\n[broken]\naws_access_key_id = AKX\n";
  EXPECT_EQ(ProfileKeys(credentials, "default", false)->access_key, "AKDEF");
  auto backup = ProfileKeys(credentials, "backup", false);
  ASSERT_TRUE(backup);
  EXPECT_EQ(backup->secret_key, "s2");
  EXPECT_EQ(backup->session_token, "tok");
  EXPECT_FALSE(ProfileKeys(credentials, "broken", false));  // no secret
  EXPECT_FALSE(ProfileKeys(credentials, "absent", false));
  // The config file says "[profile NAME]", but "[default]" stays as it is.
  std::string config =
      "[default]\naws_access_key_id=AKD\naws_secret_access_key=d\n"
      "[profile  backup]\naws_access_key_id=AKC\naws_secret_access_key=c\n";
  EXPECT_EQ(ProfileKeys(config, "backup", true)->access_key, "AKC");
  EXPECT_EQ(ProfileKeys(config, "default", true)->access_key, "AKD");
  EXPECT_FALSE(ProfileKeys(config, "backup", false));
  // A comment after a section header: still that section (as botocore reads it), so its keys
  // never land in the section above.
  std::string commented =
      "[default]\naws_access_key_id=AKD\naws_secret_access_key=d\n"
      "[prod]   # production\naws_access_key_id=AKP\naws_secret_access_key=p\n";
  EXPECT_EQ(ProfileKeys(commented, "default", false)->access_key, "AKD");
  EXPECT_EQ(ProfileKeys(commented, "prod", false)->access_key, "AKP");
}

class Chain : public ::testing::Test {
 protected:
  absl::StatusOr<std::shared_ptr<CredentialsProvider>> Resolve(std::string profile = "") {
    return DefaultCredentials({.profile = std::move(profile),
                               .region = "eu-west-1",
                               .getenv = [this](const std::string& name) { return env_[name]; }});
  }
  std::string dir_ = common::FreshTestDir("creds").string();
  std::map<std::string, std::string> env_ = {{"HOME", dir_}};
};

TEST_F(Chain, EnvironmentFirstWithItsSessionToken) {
  Write(dir_ + "/creds", "[default]\naws_access_key_id=AKFILE\naws_secret_access_key=f\n");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = dir_ + "/creds";
  env_["AWS_ACCESS_KEY_ID"] = "AKENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "e";
  env_["AWS_SESSION_TOKEN"] = "session";
  auto p = Resolve();
  ASSERT_TRUE(p.ok()) << p.status();
  auto c = (*p)->Get();
  EXPECT_EQ(c->access_key, "AKENV");
  EXPECT_EQ(c->session_token, "session");
  // A profile named in the location wins over the environment: the operator chose it.
  p = Resolve("default");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->Get()->access_key, "AKFILE");
  EXPECT_EQ((*p)->Describe(), absl::StrCat("profile 'default' in ", dir_, "/creds"));
}

TEST_F(Chain, WebIdentityBeforeTheFiles) {
  Write(dir_ + "/creds", "[default]\naws_access_key_id=AKFILE\naws_secret_access_key=f\n");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = dir_ + "/creds";
  env_["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/backup";
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir_ + "/token";
  auto p = Resolve();
  ASSERT_TRUE(p.ok()) << p.status();
  // No STS is asked until credentials are needed; the regional endpoint is the default.
  EXPECT_EQ((*p)->Describe(),
            absl::StrCat("role 'arn:aws:iam::1:role/backup' by web identity (", dir_,
                         "/token) at https://sts.eu-west-1.", "amazonaws.com"));
  env_["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:1";
  EXPECT_TRUE(absl::EndsWith((*Resolve())->Describe(), "at http://127.0.0.1:1"));
}

TEST_F(Chain, HomeFilesThenNothingNamesEveryPlace) {
  std::filesystem::create_directories(dir_ + "/.aws");
  Write(dir_ + "/.aws/config", "[profile ops]\naws_access_key_id=AKC\naws_secret_access_key=c\n");
  env_["AWS_PROFILE"] = "ops";
  auto p = Resolve();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->Get()->access_key, "AKC");
  env_["AWS_PROFILE"] = "dev";
  p = Resolve();
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(p.status().message(),
            absl::StrCat("no S3 credentials found; looked at AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY, AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, "
                         "profile 'dev' in ",
                         dir_, "/.aws/credentials, profile 'dev' in ", dir_, "/.aws/config"));
}

TEST(Refreshing, RefreshesBeforeExpiryAndRidesOutAFailedRefresh) {
  absl::Time now = absl::FromUnixSeconds(1'000'000);
  int fetches = 0;
  absl::Duration life = absl::Hours(1);
  bool sts_down = false;
  RefreshingCredentials p(
      "test",
      [&]() -> absl::StatusOr<Credentials> {
        ++fetches;
        if (sts_down) return absl::UnavailableError("sts down");
        return Credentials{.access_key = absl::StrCat("AK", fetches),
                           .secret_key = "s",
                           .session_token = "t",
                           .expiration = now + life};
      },
      [&] { return now; });
  EXPECT_EQ(p.Get()->access_key, "AK1");
  now += absl::Minutes(54);
  EXPECT_EQ(p.Get()->access_key, "AK1");  // 6 minutes left: kept
  now += absl::Minutes(2);
  EXPECT_EQ(p.Get()->access_key, "AK2");  // 4 minutes left: refreshed
  EXPECT_EQ(fetches, 2);

  life = absl::Minutes(4);  // short-lived credentials refresh at half their life
  now += absl::Hours(1);
  EXPECT_EQ(p.Get()->access_key, "AK3");
  now += absl::Minutes(1);
  EXPECT_EQ(p.Get()->access_key, "AK3");
  now += absl::Seconds(61);
  EXPECT_EQ(p.Get()->access_key, "AK4");

  sts_down = true;
  now += absl::Minutes(3);  // past the refresh point, 1 minute before expiry
  EXPECT_EQ(p.Get()->access_key, "AK4");
  EXPECT_EQ(fetches, 5);
  now += absl::Seconds(20);
  EXPECT_EQ(p.Get()->access_key, "AK4");
  EXPECT_EQ(fetches, 5);     // not every request asks a failing STS again: 30 s later
  now += absl::Seconds(40);  // expired, and STS still down
  EXPECT_EQ(p.Get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fetches, 6);

  sts_down = false;
  Credentials used = *p.Get();
  EXPECT_EQ(used.access_key, "AK7");
  p.Invalidate(used);  // the store said ExpiredToken
  EXPECT_EQ(p.Get()->access_key, "AK8");
  p.Invalidate(used);  // another request that had AK7: AK8 stays
  EXPECT_EQ(p.Get()->access_key, "AK8");
  EXPECT_EQ(fetches, 8);

  life = absl::Seconds(-30);  // a skewed clock: expired on arrival
  p.Invalidate(*p.Get());
  EXPECT_EQ(p.Get()->access_key, "AK9");
  now += absl::Seconds(5);
  EXPECT_EQ(p.Get()->access_key, "AK9");  // not a fetch per request: 10 s, the store decides
  EXPECT_EQ(fetches, 9);
  now += absl::Seconds(6);
  EXPECT_EQ(p.Get()->access_key, "AK10");
}

// While one caller asks STS, the others go on with the still-valid credentials.
TEST(Refreshing, OneFetchAtATimeOthersKeepGoing) {
  absl::Time now = absl::FromUnixSeconds(1'000'000);
  std::mutex mu;
  std::condition_variable cv;
  bool in_fetch = false, release = false;
  int fetches = 0;
  RefreshingCredentials p(
      "test",
      [&]() -> absl::StatusOr<Credentials> {
        std::unique_lock<std::mutex> lock(mu);
        if (++fetches == 2) {  // the refresh blocks until released
          in_fetch = true;
          cv.notify_all();
          cv.wait(lock, [&] { return release; });
        }
        return Credentials{.access_key = absl::StrCat("AK", fetches),
                           .secret_key = "s",
                           .expiration = now + absl::Hours(1)};
      },
      [&] { return now; });
  EXPECT_EQ(p.Get()->access_key, "AK1");
  now += absl::Minutes(57);
  std::thread refresher([&] { EXPECT_EQ(p.Get()->access_key, "AK2"); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_fetch; });
  }
  EXPECT_EQ(p.Get()->access_key, "AK1");  // does not wait for the fetch
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  refresher.join();
  EXPECT_EQ(p.Get()->access_key, "AK2");
  EXPECT_EQ(fetches, 2);
}

constexpr char kStsOk[] =
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIATEMP</AccessKeyId>"
    "<SecretAccessKey>temp-secret</SecretAccessKey><SessionToken>temp-token</SessionToken>"
    "<Expiration>2026-12-04T23:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
    "</AssumeRoleWithWebIdentityResponse>";

TEST(Sts, ParsesCredentialsAndErrors) {
  auto c = ParseStsReply(200, kStsOk);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key, "ASIATEMP");
  EXPECT_EQ(c->secret_key, "temp-secret");
  EXPECT_EQ(c->session_token, "temp-token");
  EXPECT_EQ(c->expiration,
            absl::FromCivil(absl::CivilSecond(2026, 12, 4, 23, 0, 0), absl::UTCTimeZone()));
  auto denied =
      ParseStsReply(403,
                    "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                    "<Message>Token expired</Message></Error></ErrorResponse>");
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.status().message(), "HTTP 403 InvalidIdentityToken: Token expired");
  EXPECT_EQ(ParseStsReply(503, "").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ParseStsReply(200, "<html/>").status().code(), absl::StatusCode::kInternal);
}

// A stand-in for STS: records the form, answers with credentials that expire in an hour.
class FakeSts {
 public:
  FakeSts()
      : server_([this](const httplib::Request& req, httplib::Response& res) { Serve(req, res); }) {}
  std::string url() const { return server_.url() + "/"; }
  std::vector<std::string> forms() {
    std::lock_guard<std::mutex> lock(mu_);
    return forms_;
  }
  bool fail_ = false;

 private:
  void Serve(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    forms_.push_back(req.body);
    if (fail_) {
      res.status = 400;
      return res.set_content(
          "<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not "
          "authorized</Message></Error></ErrorResponse>",
          "text/xml");
    }
    std::string reply = kStsOk;
    std::string at =
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() + absl::Hours(1), absl::UTCTimeZone());
    reply.replace(reply.find("2026-12-04T23:00:00Z"), 20, at);
    res.set_content(reply, "text/xml");
  }

  std::mutex mu_;
  std::vector<std::string> forms_;
  LocalHttpServer server_;  // last: stops before the rest goes
};

TEST(Sts, ExchangesTheTokenFileReadAnewEachTime) {
  FakeSts sts;
  std::string dir = common::FreshTestDir("sts").string();
  Write(dir + "/token", "eyJ.first\n");
  WebIdentityRequest req{.endpoint = sts.url(),
                         .role_arn = "arn:aws:iam::1:role/backup",
                         .token_file = dir + "/token",
                         .session_name = "mdb-backup-1"};
  auto c = AssumeRoleWithWebIdentity(req);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->session_token, "temp-token");
  Write(dir + "/token", "eyJ.second");  // the kubelet rotated it
  ASSERT_TRUE(AssumeRoleWithWebIdentity(req).ok());
  std::vector<std::string> forms = sts.forms();
  ASSERT_EQ(forms.size(), 2u);
  EXPECT_EQ(forms[0],
            "Action=AssumeRoleWithWebIdentity&DurationSeconds=3600&RoleArn=arn%3Aaws%3Aiam%3A%3A1%"
            "3Arole%2Fbackup&RoleSessionName=mdb-backup-1&Version=2011-06-15&WebIdentityToken="
            "eyJ.first");
  EXPECT_TRUE(absl::EndsWith(forms[1], "WebIdentityToken=eyJ.second"));

  sts.fail_ = true;
  auto refused = AssumeRoleWithWebIdentity(req);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.status().message(),
            absl::StrCat("STS AssumeRoleWithWebIdentity of 'arn:aws:iam::1:role/backup' at ",
                         sts.url(), ": HTTP 400 AccessDenied: Not authorized"));
  EXPECT_FALSE(absl::StrContains(refused.status().message(), "eyJ"));  // never the token
  std::remove((dir + "/token").c_str());
  EXPECT_EQ(AssumeRoleWithWebIdentity(req).status().code(), absl::StatusCode::kFailedPrecondition);
  // The token is a bearer credential: never in clear text beyond this machine.
  req.endpoint = "http://sts.example.com/";
  auto clear = AssumeRoleWithWebIdentity(req);
  EXPECT_EQ(clear.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(clear.status().message(), "is not https")) << clear.status();
  req.endpoint = "sts.example.com";
  EXPECT_EQ(AssumeRoleWithWebIdentity(req).status().code(), absl::StatusCode::kInvalidArgument);
}

// The session token goes with every request, signed; ExpiredToken fetches new credentials once.
TEST(SessionToken, SentSignedAndRefreshedWhenTheStoreSaysExpired) {
  FakeS3 fake;
  int fetches = 0;
  auto provider = std::make_shared<RefreshingCredentials>("test", [&] {
    ++fetches;
    return Credentials{.access_key = "AKFAKE",
                       .secret_key = "secret",
                       .session_token = absl::StrCat("token-", fetches),
                       .expiration = absl::Now() + absl::Hours(1)};
  });
  S3Options o = fake.Options();
  Client client(o, *ParseEndpoint(o.endpoint), provider);
  Request put("PUT", "pre/k");
  put.body = "v";
  ASSERT_TRUE(client.Send(put).ok());
  fake.Fail("GET", 1, 400, "ExpiredToken");
  auto got = client.Send(Request("GET", "pre/k"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->body, "v");
  EXPECT_EQ(fake.tokens_, (std::vector<std::string>{"token-1", "token-1", "token-2"}));
  EXPECT_EQ(fetches, 2);
}

}  // namespace
}  // namespace mdb::storage::s3
