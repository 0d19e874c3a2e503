// S3 driver: maps the Storage operations onto S3 requests (s3_client does the signing, transport
// and retries). S3 publishes an object atomically once PUT or CompleteMultipartUpload succeeds,
// so unlike the posix driver no temporary-name dance is needed.
#include "storage/s3/s3_storage.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "storage/s3/s3_client.h"

namespace mdb::storage {
namespace {

using s3::Request;
using s3::Response;

constexpr uint64_t kMaxParts = 10000;  // S3's limit per multipart upload

// A listing reply: an answer that is not XML (a proxy's HTML page, a cut body) is an error, never
// an empty listing: GC and the start-up reconciliation act on what a listing leaves out.
absl::StatusOr<s3::XmlReply> ParseListing(const std::string& body, const std::string& what) {
  s3::XmlReply reply = s3::XmlReply::Parse(body);
  if (!reply.ok()) {
    return absl::UnavailableError(
        absl::StrCat("s3 ", what, ": the reply is not XML (", body.size(), " bytes); retry later"));
  }
  return reply;
}

absl::StatusOr<uint64_t> ParseSize(const std::string& s, const std::string& what) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(s, &v)) {
    return absl::InternalError(absl::StrCat("s3 ", what, ": bad size '", s, "' in the response"));
  }
  return v;
}

// "Wed, 12 Oct 2009 17:50:00 GMT" (HTTP date, HEAD) -> time; curl already knows the formats.
absl::Time ParseHttpDate(const std::string& s) {
  time_t t = curl_getdate(s.c_str(), nullptr);
  return t < 0 ? absl::UnixEpoch() : absl::FromTimeT(t);
}

// "2009-10-12T17:50:30.000Z" (ISO 8601, ListObjectsV2) -> time; InfinitePast if unreadable.
absl::Time ParseIsoDate(const std::string& s) {
  absl::Time t;
  std::string err;
  return absl::ParseTime(absl::RFC3339_full, s, &t, &err) ? t : absl::InfinitePast();
}

std::string PercentDecode(absl::string_view s) {
  auto hex = [](char c) {
    return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && absl::ascii_isxdigit(s[i + 1]) &&
        absl::ascii_isxdigit(s[i + 2])) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

class S3Storage final : public Storage {
 public:
  S3Storage(S3Options options, s3::Endpoint endpoint)
      : client_(std::move(options), std::move(endpoint)) {}

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
    std::string object = ObjectKey(key);
    if (data.size() <= client_.options().multipart_threshold) {
      Request req("PUT", object);
      req.body = data;
      return client_.Send(req).status();
    }
    return PutMultipart(object, data);
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
    std::vector<ObjectInfo> out;
    std::string full = ListPrefix(prefix);
    size_t strip = client_.options().prefix.empty() ? 0 : client_.options().prefix.size() + 1;
    std::string token;
    for (;;) {
      Request req("GET", "",
                  {{"list-type", "2"},
                   {"max-keys", absl::StrCat(client_.options().list_page_size)},
                   {"prefix", full}});
      if (!token.empty()) req.query.emplace_back("continuation-token", token);
      req.what = absl::StrCat("list '", Describe(), "/", prefix, "'");
      ASSIGN_OR_RETURN(Response r, client_.Send(req));
      ASSIGN_OR_RETURN(s3::XmlReply reply, ParseListing(r.body, req.what));
      for (const s3::XmlReply& contents : reply.Children("Contents")) {
        std::string key = contents.Text("Key");
        if (key.size() <= strip || key.compare(0, full.size(), full) != 0) continue;
        ASSIGN_OR_RETURN(uint64_t size, ParseSize(contents.Text("Size"), req.what));
        absl::Time modified = ParseIsoDate(contents.Text("LastModified"));
        if (modified == absl::InfinitePast()) modified = absl::UnixEpoch();
        out.push_back({.key = key.substr(strip), .size = size, .modified = modified});
      }
      if (reply.Text("IsTruncated") != "true") break;
      std::string next = reply.Text("NextContinuationToken");
      if (next.empty() || next == token) {
        return absl::InternalError(
            absl::StrCat("s3 ", req.what, ": truncated listing without a continuation token"));
      }
      token = std::move(next);
    }
    // S3 lists in UTF-8 byte order already; sorting keeps the contract for stores that do not.
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return out;
  }

  absl::StatusOr<ObjectInfo> Stat(const std::string& key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    std::string object = ObjectKey(key);
    ASSIGN_OR_RETURN(Response r, client_.Send(Request("HEAD", object)));
    ASSIGN_OR_RETURN(uint64_t size,
                     ParseSize(r.Header("content-length"), absl::StrCat("HEAD '", object, "'")));
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
    absl::Time cutoff = absl::Now() - older_than;
    std::vector<std::pair<std::string, std::string>> stale;  // key, upload id
    std::string key_marker, id_marker;
    for (;;) {
      Request req("GET", "", {{"uploads", ""}, {"prefix", ListPrefix("")}});
      if (!key_marker.empty()) req.query.emplace_back("key-marker", key_marker);
      if (!id_marker.empty()) req.query.emplace_back("upload-id-marker", id_marker);
      req.what = absl::StrCat("list multipart uploads in '", Describe(), "'");
      ASSIGN_OR_RETURN(Response r, client_.Send(req));
      ASSIGN_OR_RETURN(s3::XmlReply reply, ParseListing(r.body, req.what));
      for (const s3::XmlReply& upload : reply.Children("Upload")) {
        // An unreadable time is not known to be old enough: leave that upload alone.
        absl::Time initiated = ParseIsoDate(upload.Text("Initiated"));
        if (initiated == absl::InfinitePast() || initiated > cutoff) continue;
        stale.emplace_back(upload.Text("Key"), upload.Text("UploadId"));
      }
      if (reply.Text("IsTruncated") != "true") break;
      std::string next_key = reply.Text("NextKeyMarker");
      std::string next_id = reply.Text("NextUploadIdMarker");
      if (next_key == key_marker && next_id == id_marker) {
        return absl::InternalError(
            absl::StrCat("s3 ", req.what, ": truncated listing without new markers"));
      }
      key_marker = std::move(next_key);
      id_marker = std::move(next_id);
    }
    int removed = 0;
    for (const auto& [object, upload_id] : stale) {
      absl::Status st = client_.Send(Request("DELETE", object, {{"uploadId", upload_id}})).status();
      if (st.ok()) {
        ++removed;
      } else if (!absl::IsNotFound(st)) {  // NoSuchUpload: completed or aborted meanwhile
        return st;
      }
    }
    return removed;
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

  absl::Status PutMultipart(const std::string& object, std::string_view data) {
    Request create("POST", object, {{"uploads", ""}});
    create.error_in_ok_body = true;
    ASSIGN_OR_RETURN(Response created, client_.Send(create));
    std::string upload_id = s3::XmlReply::Parse(created.body).Text("UploadId");
    if (upload_id.empty()) {
      return absl::InternalError(
          absl::StrCat("s3 POST '", object, "?uploads': no UploadId in the response"));
    }
    absl::Status st = UploadParts(object, upload_id, data);
    if (!st.ok()) {
      // Best effort: an upload left behind only costs space until a lifecycle rule removes it.
      client_.Send(Request("DELETE", object, {{"uploadId", upload_id}})).IgnoreError();
    }
    return st;
  }

  absl::Status UploadParts(const std::string& object, const std::string& upload_id,
                           std::string_view data) {
    // Parts of part_size, grown if needed to stay within S3's 10000 parts.
    uint64_t part_size = std::max<uint64_t>(client_.options().part_size, 1);
    part_size = std::max<uint64_t>(part_size, (data.size() + kMaxParts - 1) / kMaxParts);
    uint64_t parts = (data.size() + part_size - 1) / part_size;
    std::string complete = "<CompleteMultipartUpload>";
    for (uint64_t n = 1; n <= parts; ++n) {
      Request put("PUT", object, {{"partNumber", absl::StrCat(n)}, {"uploadId", upload_id}});
      put.body = data.substr((n - 1) * part_size, part_size);
      put.what = absl::StrCat("PUT '", object, "' part ", n, "/", parts);
      ASSIGN_OR_RETURN(Response r, client_.Send(put));
      std::string etag = r.Header("etag");
      if (etag.empty()) {
        return absl::InternalError(
            absl::StrCat("s3 PUT '", object, "' part ", n, ": no ETag in the response"));
      }
      absl::StrAppend(&complete, "<Part><PartNumber>", n, "</PartNumber><ETag>",
                      s3::XmlEscape(etag), "</ETag></Part>");
    }
    absl::StrAppend(&complete, "</CompleteMultipartUpload>");
    Request done("POST", object, {{"uploadId", upload_id}});
    done.body = complete;
    done.what = absl::StrCat("POST '", object, "' (complete multipart upload)");
    done.error_in_ok_body = true;
    return client_.Send(done).status();
  }

  s3::Client client_;
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
  if (o.access_key.empty() || o.secret_key.empty()) {
    return bad("no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  }
  if (o.region.empty()) return bad("no region given");
  if (o.max_attempts < 1) return bad("max_attempts must be at least 1");
  if (o.part_size == 0) return bad("part_size must be positive");
  ASSIGN_OR_RETURN(s3::Endpoint endpoint, s3::ParseEndpoint(o.endpoint));
  if (!o.path_style && IsIpAuthority(endpoint.authority)) {
    return bad(absl::StrCat("virtual-host addressing needs a host name, not the IP address in '",
                            o.endpoint, "' (use path_style=true)"));
  }
  auto storage = std::make_unique<S3Storage>(std::move(o), std::move(endpoint));
  RETURN_IF_ERROR(storage->Probe());
  return storage;
}

absl::StatusOr<std::unique_ptr<Storage>> OpenS3Storage(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid s3 location '", url, "': ", why));
  };
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "s3://")) return bad("expected s3://bucket/prefix?endpoint=...");
  S3Options o;
  size_t q = rest.find('?');
  absl::string_view path = rest.substr(0, q);
  absl::string_view query = q == absl::string_view::npos ? "" : rest.substr(q + 1);
  size_t slash = path.find('/');
  o.bucket = std::string(path.substr(0, slash));
  if (slash != absl::string_view::npos) o.prefix = std::string(path.substr(slash + 1));
  if (o.bucket.empty()) return bad("no bucket");
  std::string path_style;
  for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    std::string value = PercentDecode(p.second);
    if (p.first == "endpoint") {
      o.endpoint = value;
    } else if (p.first == "region") {
      o.region = value;
    } else if (p.first == "path_style") {
      if (value != "true" && value != "false") return bad("path_style must be true or false");
      path_style = value;
    } else {
      return bad(
          absl::StrCat("unknown parameter '", p.first, "' (known: endpoint, region, path_style)"));
    }
  }
  if (o.endpoint.empty()) {
    // Without an endpoint this is AWS itself, which prefers virtual-host addressing.
    o.endpoint = absl::StrCat("https://s3.", o.region, ".amazonaws.com");
    o.path_style = path_style == "true";
  } else {
    o.path_style = path_style != "false";
  }
  const char* access = getenv("AWS_ACCESS_KEY_ID");
  const char* secret = getenv("AWS_SECRET_ACCESS_KEY");
  if (access == nullptr || *access == '\0' || secret == nullptr || *secret == '\0') {
    return bad("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  o.access_key = access;
  o.secret_key = secret;
  return OpenS3Storage(o);
}

}  // namespace mdb::storage
