#include "storage/s3/s3_uploads.h"

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <system_error>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/status.h"
#include "storage/s3/s3_listing.h"
#include "storage/s3/s3_xml.h"

namespace mdb::storage::s3 {
namespace {

constexpr uint64_t kMaxParts = 10000;  // S3's limit per multipart upload
// Threads sending parts besides the Puts' own, in the whole process; each holds no more than a
// connection (the parts are slices of the Put's buffer).
constexpr int kMaxExtraPartThreads = 64;
std::atomic<int> extra_part_threads{0};

std::string Unquote(const std::string& etag) {
  return std::string(absl::StripSuffix(absl::StripPrefix(etag, "\""), "\""));
}

struct Parts {
  uint64_t size = 0;
  uint64_t count = 0;
};

constexpr char kMarkerNonce[] = "~";

std::string Nonce() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16));
}

Parts PartsOf(const S3Options& o, uint64_t total) {
  // part_size, grown if needed to stay within S3's 10000 parts.
  uint64_t size = std::max<uint64_t>(o.part_size, 1);
  size = std::max<uint64_t>(size, (total + kMaxParts - 1) / kMaxParts);
  return {size, (total + size - 1) / size};
}

// Sends every part; `etags` gets each part's ETag in part order. Workers take the next part
// number from a shared counter and stop at the first failure.
absl::Status UploadParts(Client& client, const std::string& object, const std::string& upload_id,
                         std::string_view data, std::vector<std::string>* etags) {
  Parts p = PartsOf(client.options(), data.size());
  etags->assign(p.count, "");
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  absl::Status first_error;  // guarded by mu
  auto fail = [&](absl::Status st) {
    std::lock_guard<std::mutex> lock(mu);
    if (first_error.ok()) first_error = std::move(st);
    failed = true;
  };
  auto worker = [&] {
    for (uint64_t i; !failed && (i = next++) < p.count;) {
      Request put("PUT", object, {{"partNumber", absl::StrCat(i + 1)}, {"uploadId", upload_id}});
      put.body = data.substr(i * p.size, p.size);
      put.what = absl::StrCat("PUT '", object, "' part ", i + 1, "/", p.count);
      absl::StatusOr<Response> r = client.Send(put);
      if (!r.ok()) return fail(r.status());
      std::string etag = r->Header("etag");
      if (etag.empty()) {
        return fail(
            absl::InternalError(absl::StrCat("s3 ", put.what, ": no ETag in the response")));
      }
      (*etags)[i] = std::move(etag);
    }
  };
  int threads = static_cast<int>(
      std::min<uint64_t>(std::max(1, client.options().upload_concurrency), p.count));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) {
    // Within the process-wide cap: many Puts at once share it rather than multiply it.
    if (extra_part_threads.fetch_add(1) >= kMaxExtraPartThreads) {
      --extra_part_threads;
      break;
    }
    try {
      pool.emplace_back(worker);
    } catch (const std::system_error&) {  // out of threads: this one and the others do the work
      --extra_part_threads;
      break;
    }
  }
  worker();
  for (std::thread& t : pool) t.join();
  extra_part_threads -= static_cast<int>(pool.size());
  return first_error;
}

// CompleteMultipartUpload. When its answer is lost (a timeout, a reset, then NoSuchUpload on the
// retry because the first one succeeded), the object itself tells: same size and the ETag S3
// computes from the parts means the upload was completed.
absl::Status Complete(Client& client, const std::string& object, const std::string& upload_id,
                      const std::vector<std::string>& etags, uint64_t size) {
  std::string body = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i) {
    absl::StrAppend(&body, "<Part><PartNumber>", i + 1, "</PartNumber><ETag>", XmlEscape(etags[i]),
                    "</ETag></Part>");
  }
  absl::StrAppend(&body, "</CompleteMultipartUpload>");
  Request done("POST", object, {{"uploadId", upload_id}});
  done.body = body;
  done.what = absl::StrCat("POST '", object, "' (complete multipart upload)");
  done.error_in_ok_body = true;
  absl::Status st = client.Send(done).status();
  if (st.ok()) return st;
  bool gone = absl::IsNotFound(st);  // NoSuchUpload: completed by a try whose answer was lost?
  absl::StatusOr<Response> head = client.Send(Request("HEAD", object));
  std::string expected = MultipartEtag(etags);
  if (head.ok() && head->Header("content-length") == absl::StrCat(size) && !expected.empty() &&
      Unquote(head->Header("etag")) == expected) {
    common::Log(common::LogLevel::kWarning, "s3",
                absl::StrCat(done.what, " answered '", st.message(),
                             "', but the object is there with the parts' ETag: completed"));
    return absl::OkStatus();
  }
  if (gone) {
    // Not a NotFound for the caller: what is unknown is whether the object was written.
    return absl::UnavailableError(
        absl::StrCat("s3 ", done.what,
                     ": the upload is gone (completed by a try whose answer was lost, or "
                     "aborted) and the object cannot be confirmed by its ETag; write it again"));
  }
  return st;
}

}  // namespace

std::string MultipartEtag(const std::vector<std::string>& part_etags) {
  std::string binary;
  for (const std::string& etag : part_etags) {
    std::string hex = Unquote(etag);
    if (hex.size() != 32 || !std::all_of(hex.begin(), hex.end(), absl::ascii_isxdigit)) return "";
    binary += absl::HexStringToBytes(hex);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(binary.data(), binary.size(), md, &len, EVP_md5(), nullptr);
  return absl::StrCat(absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), len)),
                      "-", part_etags.size());
}

absl::Status PutMultipart(Client& client, const UploadTarget& target, std::string_view data) {
  const std::string& object = target.object;
  // The marker first: a crash after CreateMultipartUpload must leave something a listing finds.
  // One per upload (a nonce after '~', which keys never hold): a retried Put of the key must not
  // remove the marker of an earlier try whose abort failed.
  std::string marker = absl::StrCat(target.marker, kMarkerNonce, Nonce());
  Request mark("PUT", marker);
  mark.headers = target.headers;  // a bucket policy may demand encryption of every object
  mark.what = absl::StrCat("PUT upload marker of '", object, "'");
  RETURN_IF_ERROR(client.Send(mark).status());
  Request create("POST", object, {{"uploads", ""}});
  create.headers = target.headers;
  create.error_in_ok_body = true;
  ASSIGN_OR_RETURN(Response created, client.Send(create));
  std::string upload_id = XmlReply::Parse(created.body).Text("UploadId");
  if (upload_id.empty()) {
    return absl::InternalError(
        absl::StrCat("s3 POST '", object, "?uploads': no UploadId in the response"));
  }
  std::vector<std::string> etags;
  absl::Status st = UploadParts(client, object, upload_id, data, &etags);
  if (st.ok()) st = Complete(client, object, upload_id, etags, data.size());
  bool gone = st.ok();
  if (!st.ok()) {
    absl::Status aborted =
        client.Send(Request("DELETE", object, {{"uploadId", upload_id}})).status();
    gone = aborted.ok() || absl::IsNotFound(aborted);
  }
  // Kept when the upload may still exist: the next cleanup finds it through the marker.
  if (gone) client.Send(Request("DELETE", marker)).IgnoreError();
  return st;
}

absl::StatusOr<int> RemoveIncompleteUploads(Client& client, const std::string& root,
                                            absl::Time cutoff, const std::string& where) {
  std::string what = absl::StrCat("list multipart uploads in '", where, "'");
  std::map<std::string, std::string> stale;  // upload id -> object key
  auto take = [&](const std::vector<Upload>& uploads, const std::string& exact_key) {
    bool all_stale = true;
    for (const Upload& u : uploads) {
      if (!exact_key.empty() && u.key != exact_key) continue;
      // An unreadable time is not known to be old enough: leave that upload alone.
      if (u.initiated == absl::InfinitePast() || u.initiated > cutoff) {
        all_stale = false;
        continue;
      }
      stale[u.upload_id] = u.key;
    }
    return all_stale;
  };
  ASSIGN_OR_RETURN(std::vector<Upload> listed, ListUploads(client, root, what));
  take(listed, "");
  // Markers of writers that stopped before cutoff: their key's uploads, by exact name.
  std::string marker_root = root + kUploadMarkers;
  ASSIGN_OR_RETURN(
      std::vector<Listed> markers,
      ListObjects(client, marker_root, absl::StrCat("list upload markers in '", where, "'")));
  std::vector<std::string> done_markers;
  for (const Listed& m : markers) {
    if (m.modified > cutoff) continue;
    std::string rel = m.key.substr(marker_root.size());
    std::string object = root + rel.substr(0, rel.rfind(kMarkerNonce));
    ASSIGN_OR_RETURN(std::vector<Upload> of_key, ListUploads(client, object, what));
    if (take(of_key, object)) done_markers.push_back(m.key);
  }
  int removed = 0;
  for (const auto& [upload_id, object] : stale) {
    absl::Status st = client.Send(Request("DELETE", object, {{"uploadId", upload_id}})).status();
    if (st.ok()) {
      ++removed;
    } else if (!absl::IsNotFound(st)) {  // NoSuchUpload: completed or aborted meanwhile
      return st;
    }
  }
  for (const std::string& marker : done_markers) {
    RETURN_IF_ERROR(client.Send(Request("DELETE", marker)).status());
  }
  return removed;
}

}  // namespace mdb::storage::s3
