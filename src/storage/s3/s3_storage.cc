// S3 driver: maps the Storage operations onto S3 requests (s3_client does the signing, transport
// and retries). S3 publishes an object atomically once PUT or CompleteMultipartUpload succeeds,
// so unlike the posix driver no temporary-name dance is needed.
#include "storage/s3/s3_storage.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_listing.h"
#include "storage/s3/s3_uploads.h"

namespace mdb::storage {
namespace {

using s3::Request;
using s3::Response;

// "Wed, 12 Oct 2009 17:50:00 GMT" (HTTP date, HEAD) -> time; curl already knows the formats.
absl::Time ParseHttpDate(const std::string& s) {
  time_t t = curl_getdate(s.c_str(), nullptr);
  return t < 0 ? absl::UnixEpoch() : absl::FromTimeT(t);
}

class S3Storage final : public Storage {
 public:
  S3Storage(S3Options options, s3::Endpoint endpoint,
            std::shared_ptr<s3::CredentialsProvider> credentials)
      : client_(std::move(options), std::move(endpoint), std::move(credentials)) {
    const S3Options& o = client_.options();
    if (!o.sse.empty()) object_headers_.emplace_back("x-amz-server-side-encryption", o.sse);
    if (!o.sse_kms_key_id.empty()) {
      object_headers_.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", o.sse_kms_key_id);
    }
    if (!o.storage_class.empty())
      object_headers_.emplace_back("x-amz-storage-class", o.storage_class);
  }

  // One cheap request that fails the way every later one would: wrong endpoint, missing bucket,
  // bad credentials.
  absl::Status Probe() {
    const S3Options& o = client_.options();
    Request req("GET", "", {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", ListPrefix("")}});
    req.what = absl::StrCat("bucket '", o.bucket, "' at ", o.endpoint);
    return client_.Send(req).status();
  }

  absl::Status Put(const std::string& key, std::string_view data) override {
    RETURN_IF_ERROR(ValidateKey(key));
    if (absl::StartsWith(key, s3::kUploadMarkers)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid object key '", key, "': ", s3::kUploadMarkers, " is the driver's own"));
    }
    std::string object = ObjectKey(key);
    if (data.size() <= client_.options().multipart_threshold) {
      Request req("PUT", object);
      req.headers = object_headers_;
      req.body = data;
      return client_.Send(req).status();
    }
    return s3::PutMultipart(client_,
                            {.object = object,
                             .marker = ListPrefix(absl::StrCat(s3::kUploadMarkers, key)),
                             .headers = object_headers_},
                            data);
  }

  absl::StatusOr<std::string> Get(const std::string& key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    ASSIGN_OR_RETURN(Response r, client_.Send(Request("GET", ObjectKey(key))));
    return std::move(r.body);
  }

  absl::StatusOr<std::string> GetRange(const std::string& key, uint64_t offset,
                                       uint64_t length) override {
    RETURN_IF_ERROR(ValidateKey(key));
    std::string object = ObjectKey(key);
    auto outside = [&](const std::string& size) {
      return absl::OutOfRangeError(absl::StrCat("range ", offset, "+", length, " is outside '",
                                                Describe(), "/", key, "' (", size, ")"));
    };
    if (length > std::numeric_limits<uint64_t>::max() - offset) return outside("overflow");
    if (length == 0) {  // no byte range can express this: ask for the size instead
      ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
      if (offset > info.size) return outside(absl::StrCat(info.size, " bytes"));
      return std::string();
    }
    Request req("GET", object);
    req.headers = {{"range", absl::StrCat("bytes=", offset, "-", offset + length - 1)}};
    auto r = client_.Send(req);
    if (!r.ok()) {
      // 416: the range starts at or past the end.
      if (r.status().code() == absl::StatusCode::kOutOfRange) return outside("it is shorter");
      return r.status();
    }
    if (r->status == 206) {
      // S3 trims a range that runs past the end; "Content-Range: bytes 5-9/10" tells the size.
      if (r->body.size() == length) return std::move(r->body);
      std::string range = r->Header("content-range");
      size_t slash = range.rfind('/');
      return outside(slash == std::string::npos ? "it is shorter"
                                                : absl::StrCat(range.substr(slash + 1), " bytes"));
    }
    // A 200 means the store ignored the Range header and sent the whole object.
    if (offset + length > r->body.size()) return outside(absl::StrCat(r->body.size(), " bytes"));
    return r->body.substr(offset, length);
  }

  absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    std::string full = ListPrefix(prefix);
    std::string markers = ListPrefix(s3::kUploadMarkers);
    size_t strip = client_.options().prefix.empty() ? 0 : client_.options().prefix.size() + 1;
    ASSIGN_OR_RETURN(
        std::vector<s3::Listed> listed,
        s3::ListObjects(client_, full, absl::StrCat("list '", Describe(), "/", prefix, "'")));
    std::vector<ObjectInfo> out;
    for (s3::Listed& l : listed) {
      if (l.key.size() <= strip || absl::StartsWith(l.key, markers)) continue;
      out.push_back({.key = l.key.substr(strip), .size = l.size, .modified = l.modified});
    }
    // S3 lists in UTF-8 byte order already; sorting keeps the contract for stores that do not.
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return out;
  }

  absl::StatusOr<ObjectInfo> Stat(const std::string& key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    std::string object = ObjectKey(key);
    ASSIGN_OR_RETURN(Response r, client_.Send(Request("HEAD", object)));
    ASSIGN_OR_RETURN(uint64_t size, s3::ParseSize(r.Header("content-length"),
                                                  absl::StrCat("HEAD '", object, "'")));
    return ObjectInfo{
        .key = key, .size = size, .modified = ParseHttpDate(r.Header("last-modified"))};
  }

  absl::Status Delete(const std::string& key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    absl::Status st = client_.Send(Request("DELETE", ObjectKey(key))).status();
    return absl::IsNotFound(st) ? absl::OkStatus() : st;
  }

  // Aborts the multipart uploads under the prefix started before the cutoff: what a writer that
  // crashed between CreateMultipartUpload and Complete/Abort left behind (and still pays for).
  absl::StatusOr<int> RemoveIncomplete(absl::Duration older_than) override {
    return s3::RemoveIncompleteUploads(client_, ListPrefix(""), absl::Now() - older_than,
                                       Describe());
  }

  std::string Describe() const override {
    const S3Options& o = client_.options();
    return absl::StrCat("s3://", o.bucket, o.prefix.empty() ? "" : "/", o.prefix);
  }

 private:
  std::string ObjectKey(const std::string& key) const {
    const std::string& p = client_.options().prefix;
    return p.empty() ? key : absl::StrCat(p, "/", key);
  }
  std::string ListPrefix(const std::string& prefix) const {
    const std::string& p = client_.options().prefix;
    return p.empty() ? prefix : absl::StrCat(p, "/", prefix);
  }

  s3::Client client_;
  s3::KeyValues object_headers_;  // sent with every object's creation
};

// Virtual-host addressing puts the bucket in front of the host name, which an IP cannot carry.
bool IsIpAuthority(const std::string& authority) {
  if (!authority.empty() && authority[0] == '[') return true;  // IPv6 literal
  absl::string_view host = authority;
  host = host.substr(0, host.find(':'));
  return !host.empty() && std::all_of(host.begin(), host.end(),
                                      [](char c) { return absl::ascii_isdigit(c) || c == '.'; });
}

}  // namespace

absl::StatusOr<std::unique_ptr<Storage>> OpenS3Storage(const S3Options& options) {
  S3Options o = options;
  o.prefix = std::string(absl::StripSuffix(absl::StripPrefix(o.prefix, "/"), "/"));
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("s3 bucket '", o.bucket, "': ", why));
  };
  if (o.bucket.empty()) return absl::InvalidArgumentError("s3: no bucket given");
  if (o.endpoint.empty()) return bad("no endpoint given");
  if (o.region.empty()) return bad("no region given");
  // Both end up in host names (the STS endpoint; virtual-host addressing).
  auto only = [](const std::string& s, const char* extra) {
    return std::all_of(s.begin(), s.end(), [&](char c) {
      return absl::ascii_islower(c) || absl::ascii_isdigit(c) || strchr(extra, c) != nullptr;
    });
  };
  if (!only(o.region, "-"))
    return bad(absl::StrCat("region '", o.region, "' is not a region name"));
  if (!o.path_style && !only(o.bucket, ".-")) {
    return bad("virtual-host addressing needs a bucket name of a-z, 0-9, '.' and '-'");
  }
  if (!std::all_of(o.bucket.begin(), o.bucket.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_';
      })) {
    return bad("a bucket name is letters, digits, '.', '-' and '_'");
  }
  if (o.max_attempts < 1) return bad("max_attempts must be at least 1");
  if (o.part_size == 0) return bad("part_size must be positive");
  if (o.upload_concurrency < 1 || o.upload_concurrency > 64) {
    return bad("upload_concurrency must be 1 to 64");
  }
  if (o.request_timeout < absl::Seconds(1)) return bad("timeout must be at least 1s");
  if (!o.sse.empty() && o.sse != "AES256" && o.sse != "aws:kms") {
    return bad(absl::StrCat("sse '", o.sse, "' is not AES256 (SSE-S3) or aws:kms (SSE-KMS)"));
  }
  if (!o.sse_kms_key_id.empty() && o.sse != "aws:kms") {
    return bad("sse_kms_key_id needs sse=aws:kms");
  }
  // Objects of the archive classes cannot be read without a restore request that takes hours:
  // the repository reads its packs back for every restore, verify and GC.
  if (o.storage_class == "GLACIER" || o.storage_class == "DEEP_ARCHIVE") {
    return bad(absl::StrCat("storage class ", o.storage_class,
                            " cannot be read back without a restore request; use a lifecycle "
                            "rule for old backups, or STANDARD_IA / GLACIER_IR"));
  }
  for (char c : o.storage_class) {
    if (!absl::ascii_isupper(c) && c != '_') {
      return bad(absl::StrCat("storage class '", o.storage_class, "' is not an S3 class name"));
    }
  }
  if (!o.ca_file.empty() && access(o.ca_file.c_str(), R_OK) != 0) {
    return bad(absl::StrCat("cannot read the CA bundle '", o.ca_file, "'"));
  }
  ASSIGN_OR_RETURN(s3::Endpoint endpoint, s3::ParseEndpoint(o.endpoint));
  if (!o.path_style && IsIpAuthority(endpoint.authority)) {
    return bad(absl::StrCat("virtual-host addressing needs a host name, not the IP address in '",
                            o.endpoint, "' (use path_style=true)"));
  }
  std::shared_ptr<s3::CredentialsProvider> credentials;
  if (!o.access_key.empty() || !o.secret_key.empty()) {
    if (o.access_key.empty() || o.secret_key.empty()) return bad("an access key needs its secret");
    credentials = s3::FixedCredentials(
        {.access_key = o.access_key, .secret_key = o.secret_key, .session_token = o.session_token},
        "the repository options");
  } else {
    auto found = s3::DefaultCredentials({.profile = o.profile,
                                         .region = o.region,
                                         .sts_endpoint = o.sts_endpoint,
                                         .ca_file = o.ca_file,
                                         .timeout = o.request_timeout});
    if (!found.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("s3 bucket '", o.bucket, "': ", found.status().message()));
    }
    credentials = std::move(*found);
  }
  auto storage =
      std::make_unique<S3Storage>(std::move(o), std::move(endpoint), std::move(credentials));
  RETURN_IF_ERROR(storage->Probe());
  return storage;
}

}  // namespace mdb::storage
