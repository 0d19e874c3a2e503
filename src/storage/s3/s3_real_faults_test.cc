// Real S3 servers (versitygw, MinIO) through a relay that loses answers or requests: a completed
// multipart upload whose answer never came, a writer that stopped with its upload open; and
// parts in parallel. (Session tokens and SSE, which only MinIO offers: s3_minio_test.cc.)
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/s3/local_http_server.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_listing.h"
#include "storage/s3/s3_real_test.h"
#include "storage/s3/sigv4.h"
#include "storage/s3/sts.h"

namespace mdb::storage {
namespace {

// Forwards each request to the server as it came (the signature covers the Host header, which
// is passed on unchanged). A request `lose` matches is carried out, but its answer is held past
// the client's timeout, as when a connection dies after the server acted; one `drop` matches is
// never forwarded and never answered, as when the writer's network is gone.
class Relay {
 public:
  using Match = std::function<bool(const httplib::Request&)>;
  Relay(const std::string& upstream, Match lose, Match drop)
      : upstream_(upstream),
        lose_(std::move(lose)),
        drop_(std::move(drop)),
        server_(
            [this](const httplib::Request& req, httplib::Response& res) { Forward(req, res); }) {}
  std::string endpoint() const { return server_.url(); }
  int lost() const { return lost_; }
  int dropped() const { return dropped_; }

 private:
  static constexpr auto kPastTimeout = std::chrono::milliseconds(3500);

  void Forward(const httplib::Request& req, httplib::Response& res) {
    if (drop_ && drop_(req)) {
      ++dropped_;
      std::this_thread::sleep_for(kPastTimeout);
      res.status = 503;
      return;
    }
    httplib::Client up(upstream_);
    httplib::Request out;
    out.method = req.method;
    out.path = req.target;
    for (const auto& [k, v] : req.headers) {
      if (k != "Content-Length" && k != "REMOTE_ADDR" && k != "REMOTE_PORT" && k != "LOCAL_ADDR" &&
          k != "LOCAL_PORT") {
        out.headers.emplace(k, v);
      }
    }
    out.body = req.body;
    auto answer = up.send(out);
    if (!answer) {
      res.status = 502;
      return;
    }
    if (lose_ && lose_(req)) {
      ++lost_;
      std::this_thread::sleep_for(kPastTimeout);
    }
    res.status = answer->status;
    for (const auto& [k, v] : answer->headers) {
      if (k != "Content-Length" && k != "Transfer-Encoding" && k != "Connection") {
        res.headers.emplace(k, v);
      }
    }
    res.body = answer->body;
    if (req.method == "HEAD")
      res.set_header("Content-Length", answer->get_header_value("Content-Length"));
  }

  std::string upstream_;
  Match lose_, drop_;
  std::atomic<int> lost_{0}, dropped_{0};
  s3::LocalHttpServer server_;  // last: stops before the rest goes
};

bool IsCompletion(const httplib::Request& r) {
  return r.method == "POST" && r.has_param("uploadId");
}

std::string Data(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7919) >> 5);
  return s;
}

// Multipart with parts of 5 MiB, three at a time, and a short timeout for the relay's held answers.
S3Options Multipart(S3Options o) {
  o.multipart_threshold = 5 << 20;
  o.part_size = 5 << 20;
  o.upload_concurrency = 3;
  o.request_timeout = absl::Seconds(2);
  return o;
}

std::vector<s3::Upload> UploadsOf(const S3Options& o, const std::string& key) {
  s3::Client client(o, *s3::ParseEndpoint(o.endpoint));
  std::string object = absl::StrCat(o.prefix, "/", key);
  auto uploads = s3::ListUploads(client, object, "test listing");
  EXPECT_TRUE(uploads.ok()) << uploads.status();
  std::vector<s3::Upload> out;
  for (const s3::Upload& u : uploads.value_or(std::vector<s3::Upload>{})) {
    if (u.key == object) out.push_back(u);
  }
  return out;
}

TEST_P(RealS3, ACompletionWhoseAnswerWasLostIsStillASuccess) {
  S3Options direct = Multipart(RealOptions(server_));
  Relay relay(direct.endpoint, IsCompletion, nullptr);
  S3Options o = direct;
  o.endpoint = relay.endpoint();
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  std::string data = Data((12 << 20) + 123);  // 3 parts
  absl::Status put = (*s)->Put("packs/big", data);
  ASSERT_TRUE(put.ok()) << put;
  EXPECT_GE(relay.lost(), 1);
  auto back = (*OpenS3Storage(direct))->Get("packs/big");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == data);
  EXPECT_TRUE(UploadsOf(direct, "packs/big").empty());
  EXPECT_EQ((*s)->List("")->size(), 1u);  // the object, no marker
}

// The writer's parts and its abort never reach the server: the upload stays open, with its
// marker. A later cleanup (from another process, straight to the server) aborts it, on MinIO
// too, where a prefix listing shows no uploads.
TEST_P(RealS3, AnUploadLeftOpenByAStoppedWriterIsCleanedUp) {
  S3Options direct = Multipart(RealOptions(server_));
  direct.max_attempts = 1;
  Relay relay(direct.endpoint, nullptr, [](const httplib::Request& r) {
    return r.has_param("uploadId") && (r.method == "PUT" || r.method == "DELETE");
  });
  S3Options o = direct;
  o.endpoint = relay.endpoint();
  auto writer = OpenS3Storage(o);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_FALSE((*writer)->Put("packs/half", Data(11 << 20)).ok());
  EXPECT_GE(relay.dropped(), 2);  // a part, the abort
  ASSERT_EQ(UploadsOf(direct, "packs/half").size(), 1u);

  S3Options clean = RealOptions(server_);
  clean.prefix = direct.prefix;
  auto cleaner = OpenS3Storage(clean);
  ASSERT_TRUE(cleaner.ok()) << cleaner.status();
  EXPECT_EQ(*(*cleaner)->RemoveIncomplete(absl::Hours(1)), 0);  // too young
  EXPECT_EQ(*(*cleaner)->RemoveIncomplete(absl::ZeroDuration()), 1);
  EXPECT_TRUE(UploadsOf(direct, "packs/half").empty());
  s3::Client client(direct, *s3::ParseEndpoint(direct.endpoint));
  auto markers = s3::ListObjects(client, direct.prefix + "/", "test listing");
  ASSERT_TRUE(markers.ok()) << markers.status();
  EXPECT_TRUE(markers->empty()) << markers->front().key;
}

TEST_P(RealS3, PartsInParallelRoundTrip) {
  S3Options o = Multipart(RealOptions(server_));
  o.upload_concurrency = 4;
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  std::string data = Data(23 << 20);  // 5 parts
  ASSERT_TRUE((*s)->Put("packs/p", data).ok());
  EXPECT_TRUE(*(*s)->Get("packs/p") == data);
  EXPECT_EQ((*s)->Stat("packs/p")->size, data.size());
}

}  // namespace
}  // namespace mdb::storage
