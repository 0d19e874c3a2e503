// S3 driver against a small in-process fake S3 (cpp-httplib) that injects faults: retries and
// their budget, error mapping, multipart upload and abort, paginated listing, URL parsing.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_storage.h"
#include "storage/s3/sigv4.h"

namespace mdb::storage {
namespace {

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? "" : v;
}

// Starts a multipart upload and leaves it open, as a writer that crashed would.
void StartUpload(const S3Options& o, const std::string& key) {
  s3::Client client(o, *s3::ParseEndpoint(o.endpoint));
  s3::Request req("POST", absl::StrCat(o.prefix, "/", key), {{"uploads", ""}});
  auto r = client.Send(req);
  ASSERT_TRUE(r.ok()) << r.status();
}

// A fake S3 (one bucket, "fake-bucket") with just what the driver uses, and fault injection: the
// next N requests of a method get an error status, or are answered too late.
class FakeS3 {
 public:
  FakeS3() {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Handle(req, res);
    };
    server_.Get(".*", handler);
    server_.Put(".*", handler);
    server_.Post(".*", handler);
    server_.Delete(".*", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeS3() {
    server_.stop();
    thread_.join();
  }

  S3Options Options() const {
    S3Options o;
    o.endpoint = absl::StrCat("http://127.0.0.1:", port_);
    o.bucket = "fake-bucket";
    o.prefix = "pre";
    o.access_key = "AKFAKE";
    o.secret_key = "secret";
    o.max_attempts = 4;
    o.base_backoff = absl::Milliseconds(1);
    o.max_backoff = absl::Milliseconds(4);
    o.request_timeout = absl::Seconds(5);
    return o;
  }

  // Status 200 with a code: an <Error> body in a 200 answer (CompleteMultipartUpload does that).
  void Fail(const std::string& method, int n, int status, const std::string& code) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_[method] = {n, status, code, 0};
  }
  void Delay(const std::string& method, int n, int ms) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_[method] = {n, 0, "", ms};
  }
  int Count(const std::string& method) {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_[method];
  }
  bool Has(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return objects_.count(key) > 0;
  }
  size_t OpenUploads() {
    std::lock_guard<std::mutex> lock(mu_);
    return uploads_.size();
  }

 private:
  struct Fault {
    int remaining = 0;
    int status = 0;
    std::string code;
    int delay_ms = 0;
  };

  static void Error(httplib::Response& res, int status, const std::string& code,
                    const std::string& message) {
    res.status = status;
    res.set_content(absl::StrCat("<?xml version=\"1.0\"?><Error><Code>", code, "</Code><Message>",
                                 message, "</Message></Error>"),
                    "application/xml");
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    std::unique_lock<std::mutex> lock(mu_);
    counts_[req.method]++;
    if (!absl::StartsWith(req.get_header_value("Authorization"),
                          "AWS4-HMAC-SHA256 Credential=AKFAKE/") ||
        req.get_header_value("x-amz-content-sha256") != s3::Sha256Hex(req.body)) {
      return Error(res, 400, "XAmzContentSHA256Mismatch", "bad signature headers");
    }
    Fault& f = faults_[req.method];
    if (f.remaining > 0) {
      --f.remaining;
      if (f.delay_ms > 0) {
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(f.delay_ms));
        lock.lock();
      } else if (f.status == 200) {
        return Error(res, 200, f.code, "We encountered an internal error. Please try again.");
      } else {
        return Error(res, f.status, f.code,
                     f.status == 503 ? "Please reduce your request rate." : "Access Denied");
      }
    }
    std::string path = req.path.substr(1);
    if (absl::StartsWith(req.get_header_value("Host"), "fake-bucket.localhost:")) {
      path = "fake-bucket/" + path;  // virtual-host addressing
      counts_["virtual-host"]++;
    }
    std::string bucket = path.substr(0, path.find('/'));
    std::string key = bucket.size() < path.size() ? path.substr(bucket.size() + 1) : "";
    if (bucket != "fake-bucket") return Error(res, 404, "NoSuchBucket", "no such bucket");
    if (key.empty() && req.has_param("uploads")) return ListUploads(req, res);
    if (key.empty()) return List(req, res);
    if (req.method == "POST" && req.has_param("uploads")) {
      std::string id = absl::StrCat("upload-", next_upload_++);
      uploads_[id];
      upload_keys_[id] = key;
      return res.set_content(absl::StrCat("<InitiateMultipartUploadResult><UploadId>", id,
                                          "</UploadId></InitiateMultipartUploadResult>"),
                             "application/xml");
    }
    if (req.has_param("uploadId")) return Multipart(req, res, key);
    if (req.method == "PUT") {
      objects_[key] = req.body;
      res.set_header("ETag", "\"e\"");
    } else if (req.method == "GET") {
      auto it = objects_.find(key);
      if (it == objects_.end()) return Error(res, 404, "NoSuchKey", "no such key");
      res.set_content(it->second, "application/octet-stream");
    } else if (req.method == "DELETE") {
      objects_.erase(key);
      res.status = 204;
    }
  }

  void Multipart(const httplib::Request& req, httplib::Response& res, const std::string& key) {
    auto up = uploads_.find(req.get_param_value("uploadId"));
    if (up == uploads_.end()) return Error(res, 404, "NoSuchUpload", "no such upload");
    if (req.method == "PUT") {
      int n = std::stoi(req.get_param_value("partNumber"));
      up->second[n] = req.body;
      res.set_header("ETag", absl::StrCat("\"etag-", n, "\""));
    } else if (req.method == "DELETE") {
      uploads_.erase(up);
      res.status = 204;
    } else {  // complete: the body must list every part in order, with its ETag
      std::string data, expected = "<CompleteMultipartUpload>";
      for (const auto& [n, part] : up->second) {
        absl::StrAppend(&expected, "<Part><PartNumber>", n, "</PartNumber><ETag>&quot;etag-", n,
                        "&quot;</ETag></Part>");
        data += part;
      }
      if (req.body != expected + "</CompleteMultipartUpload>") {
        return Error(res, 400, "InvalidPart", req.body);
      }
      objects_[key] = data;
      uploads_.erase(up);
      res.set_content("<CompleteMultipartUploadResult/>", "application/xml");
    }
  }

  // ListMultipartUploads, in one page; every upload is old.
  void ListUploads(const httplib::Request& req, httplib::Response& res) {
    std::string xml = "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>";
    for (const auto& [id, parts] : uploads_) {
      if (!absl::StartsWith(upload_keys_[id], req.get_param_value("prefix"))) continue;
      absl::StrAppend(&xml, "<Upload><Key>", upload_keys_[id], "</Key><UploadId>", id,
                      "</UploadId><Initiated>2020-01-01T00:00:00.000Z</Initiated></Upload>");
    }
    res.set_content(xml + "</ListMultipartUploadsResult>", "application/xml");
  }

  // ListObjectsV2 in pages of two, so that continuation tokens are exercised.
  void List(const httplib::Request& req, httplib::Response& res) {
    if (list_html_) {  // a proxy's page where the listing should be
      res.set_content("<html><body>Service Temporarily Unavailable", "text/html");
      return;
    }
    std::string prefix = req.get_param_value("prefix");
    std::string after = req.get_param_value("continuation-token");
    std::string xml = "<ListBucketResult>";
    int n = 0;
    std::string last;
    bool more = false;
    for (const auto& [k, v] : objects_) {
      if (!absl::StartsWith(k, prefix) || (!after.empty() && k <= after)) continue;
      if (n == 2) {
        more = true;
        break;
      }
      absl::StrAppend(&xml, "<Contents><Key>", k, "</Key><LastModified>2024-01-02T03:04:05.000Z",
                      "</LastModified><Size>", v.size(), "</Size></Contents>");
      last = k;
      ++n;
    }
    absl::StrAppend(&xml, "<IsTruncated>", more ? "true" : "false", "</IsTruncated>");
    if (more) absl::StrAppend(&xml, "<NextContinuationToken>", last, "</NextContinuationToken>");
    res.set_content(xml + "</ListBucketResult>", "application/xml");
  }

 public:
  bool list_html_ = false;

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, Fault> faults_;
  std::map<std::string, int> counts_;
  std::map<std::string, std::string> objects_;
  std::map<std::string, std::map<int, std::string>> uploads_;
  std::map<std::string, std::string> upload_keys_;
  int next_upload_ = 1;
};

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
  std::string saved_id = Env("AWS_ACCESS_KEY_ID"), saved_secret = Env("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_ACCESS_KEY_ID");
  auto s = OpenS3Storage("s3://fake-bucket/pre?endpoint=" + endpoint);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "set AWS_ACCESS_KEY_ID")) << s.status();
  setenv("AWS_ACCESS_KEY_ID", "AKFAKE", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
  s = OpenS3Storage("s3://fake-bucket/pre/?endpoint=" + endpoint + "&region=eu-west-1");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->Describe(), "s3://fake-bucket/pre");
  EXPECT_EQ(OpenS3Storage("s3://fake-bucket?endpoint=" + endpoint + "&bogus=1").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto vhost = OpenS3Storage("s3://fake-bucket?endpoint=" + endpoint + "&path_style=false");
  EXPECT_TRUE(absl::StrContains(vhost.status().message(), "use path_style=true")) << vhost.status();
  if (saved_id.empty())
    unsetenv("AWS_ACCESS_KEY_ID");
  else
    setenv("AWS_ACCESS_KEY_ID", saved_id.c_str(), 1);
  if (saved_secret.empty())
    unsetenv("AWS_SECRET_ACCESS_KEY");
  else
    setenv("AWS_SECRET_ACCESS_KEY", saved_secret.c_str(), 1);
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

S3Options SmallParts(const FakeS3& fake) {
  S3Options o = fake.Options();
  o.multipart_threshold = 10;
  o.part_size = 4;
  return o;
}

TEST(S3Multipart, UploadsPartsInOrderAndCompletes) {
  FakeS3 fake;
  auto s = OpenS3Storage(SmallParts(fake));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("small", "0123456789").ok());  // at the threshold: one PUT
  EXPECT_EQ(fake.Count("POST"), 0);
  ASSERT_TRUE((*s)->Put("big", "0123456789A").ok());  // 3 parts: 4 + 4 + 3
  EXPECT_EQ(fake.Count("POST"), 2);                   // create, complete
  EXPECT_EQ(fake.Count("PUT"), 1 + 3);
  EXPECT_EQ(*(*s)->Get("big"), "0123456789A");
  EXPECT_EQ(fake.OpenUploads(), 0u);
}

TEST(S3Multipart, ErrorInsideA200CompleteIsRetried) {
  FakeS3 fake;
  auto s = OpenS3Storage(SmallParts(fake));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("big", "0123456789A").ok());
  fake.Fail("POST", 2, 200, "InternalError");  // the create once, then the complete once
  ASSERT_TRUE((*s)->Put("big", "ABCDEFGHIJKLMN").ok());
  EXPECT_EQ(fake.Count("POST"), 2 + 4);
  EXPECT_EQ(*(*s)->Get("big"), "ABCDEFGHIJKLMN");
}

TEST(S3Multipart, FailedPartAbortsTheUpload) {
  FakeS3 fake;
  auto s = OpenS3Storage(SmallParts(fake));
  ASSERT_TRUE(s.ok()) << s.status();
  fake.Fail("PUT", 100, 503, "SlowDown");
  absl::Status st = (*s)->Put("big", "0123456789A");
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StartsWith(st.message(), "s3 PUT 'pre/big' part 1/3: gave up after 4")) << st;
  EXPECT_EQ(fake.Count("DELETE"), 1);  // the abort
  EXPECT_EQ(fake.OpenUploads(), 0u);
  EXPECT_FALSE(fake.Has("pre/big"));
}

TEST(S3Multipart, RemoveIncompleteAbortsOldUploads) {
  FakeS3 fake;
  auto s = OpenS3Storage(fake.Options());
  ASSERT_TRUE(s.ok()) << s.status();
  StartUpload(fake.Options(), "half");
  S3Options other = fake.Options();
  other.prefix = "other";
  StartUpload(other, "half");  // outside the storage's prefix: not its business
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::Hours(24 * 365 * 100)), 0);
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::Hours(1)), 1);
  EXPECT_EQ(fake.OpenUploads(), 1u);
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
