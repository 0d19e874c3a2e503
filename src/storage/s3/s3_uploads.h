// Multipart uploads: parts sent in parallel, a completion whose lost response is checked against
// the object before it is called a failure, and the bookkeeping that lets a later cleanup find
// what a crashed writer left behind on any store.
//
// Why markers: S3 and versitygw list the uploads under a prefix, but MinIO lists them only for
// an exact object key, so a prefix listing there finds nothing and abandoned parts are kept (and
// paid for) forever. Each upload therefore writes an empty marker object under
// ROOT/.mdb-uploads/KEY~NONCE before it starts and deletes it once the upload is completed or
// aborted; the cleanup lists the markers and asks for each key's uploads by its exact name. One PUT
// and one DELETE more per multipart upload (objects over 16 MiB), none for the others.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/s3/s3_client.h"

namespace mdb::storage::s3 {

// The marker namespace inside the repository's prefix: hidden from List, refused to Put.
inline constexpr char kUploadMarkers[] = ".mdb-uploads/";

// Where an object lives and the headers of its creation (encryption, storage class).
struct UploadTarget {
  std::string object;  // the whole object key
  std::string marker;  // the whole key of its marker
  KeyValues headers;   // sent with CreateMultipartUpload
};

// Uploads `data` as a multipart upload, options().upload_concurrency parts at a time (each part
// a slice of `data`: no copy).
absl::Status PutMultipart(Client& client, const UploadTarget& target, std::string_view data);

// Aborts the uploads under `root` (the repository's prefix with its '/', or "") started before
// `cutoff`, found by a prefix listing and through the markers. Returns how many were aborted.
absl::StatusOr<int> RemoveIncompleteUploads(Client& client, const std::string& root,
                                            absl::Time cutoff, const std::string& where);

// The ETag S3 gives an object completed from parts with these ETags: the MD5 of their binary
// MD5s, then "-" and the part count. "" if a part's ETag is not an MD5 (SSE-KMS, say).
std::string MultipartEtag(const std::vector<std::string>& part_etags);

}  // namespace mdb::storage::s3
