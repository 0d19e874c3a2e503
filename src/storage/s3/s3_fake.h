// A fake S3 server for the driver's unit tests (cpp-httplib, in process), with fault injection.
// Only for tests: the real servers are in s3_storage_test.cc.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/s3/local_http_server.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/sigv4.h"

namespace mdb::storage::s3 {

inline std::string Md5Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), len));
}

// Starts a multipart upload and leaves it open, as a writer that crashed would.
inline void StartUpload(const S3Options& o, const std::string& key) {
  Client client(o, *s3::ParseEndpoint(o.endpoint));
  Request req("POST", absl::StrCat(o.prefix, "/", key), {{"uploads", ""}});
  auto r = client.Send(req);
  ASSERT_TRUE(r.ok()) << r.status();
}

// A fake S3 (one bucket, "fake-bucket") with just what the driver uses, and fault injection: the
// next N requests of a method get an error status, or are answered too late. A fault set for
// "METHOD?uploadId" hits only requests of a multipart upload (parts, completion, abort).
class FakeS3 {
 public:
  FakeS3()
      : server_([this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); }) {
  }

  S3Options Options() const {
    S3Options o;
    o.endpoint = server_.url();
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
  // The next N requests are carried out, but answered only after `ms`: a lost answer.
  void LoseAnswers(const std::string& method, int n, int ms) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_[method] = {n, 0, "", 0, ms};
  }
  int Count(const std::string& method) {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_[method];
  }
  // Upload markers of the store's one prefix ("pre").
  int Markers() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [k, v] : objects_) n += absl::StartsWith(k, "pre/.mdb-uploads/");
    return n;
  }
  bool Has(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return objects_.count(key) > 0;
  }
  int MaxPartsInFlight() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_in_flight_;
  }
  // Each part upload takes this long, so that parallel uploads overlap.
  void SlowParts(int ms) {
    std::lock_guard<std::mutex> lock(mu_);
    part_ms_ = ms;
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
    int lose_ms = 0;
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
        req.get_header_value("x-amz-content-sha256") != Sha256Hex(req.body)) {
      return Error(res, 400, "XAmzContentSHA256Mismatch", "bad signature headers");
    }
    if (req.has_header("x-amz-security-token")) {
      tokens_.push_back(req.get_header_value("x-amz-security-token"));
      if (!absl::StrContains(req.get_header_value("Authorization"), "x-amz-security-token")) {
        return Error(res, 403, "SignatureDoesNotMatch", "the session token is not signed");
      }
    }
    std::string kind = req.has_param("uploadId") ? req.method + "?uploadId" : req.method;
    Fault& f = faults_[kind].remaining > 0 ? faults_[kind] : faults_[req.method];
    if (f.remaining > 0 && f.lose_ms > 0) {
      --f.remaining;
      int ms = f.lose_ms;
      Serve(req, res);
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return;
    }
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
    Serve(req, res);
  }

  std::string PartEtag(const std::string& part) {
    return opaque_etags_ ? absl::StrCat("kms", part.size()) : Md5Hex(part);
  }

  // Carries out a request; mu_ held.
  void Serve(const httplib::Request& req, httplib::Response& res) {
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
      for (const char* h : {"x-amz-server-side-encryption", "x-amz-storage-class"}) {
        if (req.has_header(h))
          created_with_[key] += absl::StrCat(h, "=", req.get_header_value(h), ";");
      }
      return res.set_content(absl::StrCat("<InitiateMultipartUploadResult><UploadId>", id,
                                          "</UploadId></InitiateMultipartUploadResult>"),
                             "application/xml");
    }
    if (req.has_param("uploadId")) return Multipart(req, res, key);
    if (req.method == "PUT") {
      objects_[key] = req.body;
      etags_[key] = Md5Hex(req.body);
      for (const char* h : {"x-amz-server-side-encryption", "x-amz-storage-class"}) {
        if (req.has_header(h))
          created_with_[key] += absl::StrCat(h, "=", req.get_header_value(h), ";");
      }
      res.set_header("ETag", absl::StrCat("\"", etags_[key], "\""));
    } else if (req.method == "GET" || req.method == "HEAD") {
      auto it = objects_.find(key);
      if (it == objects_.end()) return Error(res, 404, "NoSuchKey", "no such key");
      res.set_header("ETag", absl::StrCat("\"", etags_[key], "\""));
      res.set_content(it->second, "application/octet-stream");
    } else if (req.method == "DELETE") {
      objects_.erase(key);
      res.status = 204;
    }
  }

  void Multipart(const httplib::Request& req, httplib::Response& res, const std::string& key) {
    auto up = uploads_.find(req.get_param_value("uploadId"));
    if (up == uploads_.end()) return Error(res, 404, "NoSuchUpload", "no such upload");
    if (req.method == "PUT" && part_ms_ > 0) {
      ++in_flight_;
      max_in_flight_ = std::max(max_in_flight_, in_flight_);
      mu_.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(part_ms_));
      mu_.lock();
      --in_flight_;
    }
    if (req.method == "PUT") {
      int n = std::stoi(req.get_param_value("partNumber"));
      up->second[n] = req.body;
      res.set_header("ETag", absl::StrCat("\"", PartEtag(req.body), "\""));
    } else if (req.method == "DELETE") {
      uploads_.erase(up);
      res.status = 204;
    } else {  // complete: the body must list every part in order, with its ETag
      // S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, "-", the count.
      std::string data, md5s, expected = "<CompleteMultipartUpload>";
      for (const auto& [n, part] : up->second) {
        absl::StrAppend(&expected, "<Part><PartNumber>", n, "</PartNumber><ETag>&quot;",
                        PartEtag(part), "&quot;</ETag></Part>");
        data += part;
        md5s += absl::HexStringToBytes(PartEtag(part));
      }
      if (req.body != expected + "</CompleteMultipartUpload>") {
        return Error(res, 400, "InvalidPart", req.body);
      }
      objects_[key] = data;
      etags_[key] = absl::StrCat(Md5Hex(md5s), "-", up->second.size());
      uploads_.erase(up);
      res.set_content("<CompleteMultipartUploadResult/>", "application/xml");
    }
  }

  // ListMultipartUploads, in one page; every upload is old.
  void ListUploads(const httplib::Request& req, httplib::Response& res) {
    std::string xml = "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>";
    for (const auto& [id, parts] : uploads_) {
      const std::string& prefix = req.get_param_value("prefix");
      if (!absl::StartsWith(upload_keys_[id], prefix)) continue;
      if (exact_upload_listing_ && upload_keys_[id] != prefix) continue;
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
  bool exact_upload_listing_ = false;  // MinIO: uploads are listed for an exact key only
  bool opaque_etags_ = false;          // part ETags that are not MD5s, as with SSE-KMS
  std::vector<std::string> tokens_;    // x-amz-security-token of each request that had one
  std::map<std::string, std::string> created_with_;  // key -> "header=value;" of its creation

 private:
  std::mutex mu_;
  std::map<std::string, Fault> faults_;
  std::map<std::string, int> counts_;
  std::map<std::string, std::string> objects_;
  std::map<std::string, std::string> etags_;
  std::map<std::string, std::map<int, std::string>> uploads_;
  std::map<std::string, std::string> upload_keys_;
  int next_upload_ = 1;
  int part_ms_ = 0, in_flight_ = 0, max_in_flight_ = 0;
  LocalHttpServer server_;  // last: stops before the state its handler uses goes
};

}  // namespace mdb::storage::s3
