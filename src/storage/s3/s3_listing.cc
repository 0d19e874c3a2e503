#include "storage/s3/s3_listing.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace mdb::storage::s3 {

absl::StatusOr<XmlReply> ParseListing(const std::string& body, const std::string& what) {
  XmlReply reply = XmlReply::Parse(body);
  if (!reply.ok()) {
    return absl::UnavailableError(
        absl::StrCat("s3 ", what, ": the reply is not XML (", body.size(), " bytes); retry later"));
  }
  return reply;
}

absl::Time ParseIsoDate(const std::string& s) {
  absl::Time t;
  std::string err;
  return absl::ParseTime(absl::RFC3339_full, s, &t, &err) ? t : absl::InfinitePast();
}

absl::StatusOr<uint64_t> ParseSize(const std::string& s, const std::string& what) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(s, &v)) {
    return absl::InternalError(absl::StrCat("s3 ", what, ": bad size '", s, "' in the response"));
  }
  return v;
}

absl::StatusOr<std::vector<Listed>> ListObjects(Client& client, const std::string& prefix,
                                                const std::string& what) {
  std::vector<Listed> out;
  std::string token;
  for (;;) {
    Request req("GET", "",
                {{"list-type", "2"},
                 {"max-keys", absl::StrCat(client.options().list_page_size)},
                 {"prefix", prefix}});
    if (!token.empty()) req.query.emplace_back("continuation-token", token);
    req.what = what;
    ASSIGN_OR_RETURN(Response r, client.Send(req));
    ASSIGN_OR_RETURN(XmlReply reply, ParseListing(r.body, what));
    for (const XmlReply& contents : reply.Children("Contents")) {
      std::string key = contents.Text("Key");
      if (key.compare(0, prefix.size(), prefix) != 0) continue;  // not what was asked for
      ASSIGN_OR_RETURN(uint64_t size, ParseSize(contents.Text("Size"), what));
      absl::Time modified = ParseIsoDate(contents.Text("LastModified"));
      if (modified == absl::InfinitePast()) modified = absl::UnixEpoch();
      out.push_back({.key = std::move(key), .size = size, .modified = modified});
    }
    if (reply.Text("IsTruncated") != "true") break;
    std::string next = reply.Text("NextContinuationToken");
    if (next.empty() || next == token) {
      return absl::InternalError(
          absl::StrCat("s3 ", what, ": truncated listing without a continuation token"));
    }
    token = std::move(next);
  }
  return out;
}

absl::StatusOr<std::vector<Upload>> ListUploads(Client& client, const std::string& prefix,
                                                const std::string& what) {
  std::vector<Upload> out;
  std::string key_marker, id_marker;
  for (;;) {
    Request req("GET", "", {{"uploads", ""}, {"prefix", prefix}});
    if (!key_marker.empty()) req.query.emplace_back("key-marker", key_marker);
    if (!id_marker.empty()) req.query.emplace_back("upload-id-marker", id_marker);
    req.what = what;
    ASSIGN_OR_RETURN(Response r, client.Send(req));
    ASSIGN_OR_RETURN(XmlReply reply, ParseListing(r.body, what));
    for (const XmlReply& upload : reply.Children("Upload")) {
      std::string key = upload.Text("Key");
      if (key.compare(0, prefix.size(), prefix) != 0) continue;
      out.push_back({.key = std::move(key),
                     .upload_id = upload.Text("UploadId"),
                     .initiated = ParseIsoDate(upload.Text("Initiated"))});
    }
    if (reply.Text("IsTruncated") != "true") break;
    std::string next_key = reply.Text("NextKeyMarker");
    std::string next_id = reply.Text("NextUploadIdMarker");
    if (next_key == key_marker && next_id == id_marker) {
      return absl::InternalError(
          absl::StrCat("s3 ", what, ": truncated listing without new markers"));
    }
    key_marker = std::move(next_key);
    id_marker = std::move(next_id);
  }
  return out;
}

}  // namespace mdb::storage::s3
