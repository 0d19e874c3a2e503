// Paged S3 listings (ListObjectsV2, ListMultipartUploads) and the reply fields they carry, shared
// by the driver's List and the upload bookkeeping.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_xml.h"

namespace mdb::storage::s3 {

struct Listed {
  std::string key;  // the whole object key, prefix included
  uint64_t size = 0;
  absl::Time modified;
};

// Every object whose key starts with `prefix`, all pages. `what` names the listing in messages.
absl::StatusOr<std::vector<Listed>> ListObjects(Client& client, const std::string& prefix,
                                                const std::string& what);

struct Upload {
  std::string key;
  std::string upload_id;
  absl::Time initiated;  // InfinitePast when the store's time is unreadable
};

// The multipart uploads in progress whose key starts with `prefix`, all pages. (MinIO answers
// only for an exact object key: see s3_uploads.h for how the driver finds the rest.)
absl::StatusOr<std::vector<Upload>> ListUploads(Client& client, const std::string& prefix,
                                                const std::string& what);

// A listing reply: an answer that is not XML (a proxy's HTML page, a cut body) is an error, never
// an empty listing: GC and the start-up reconciliation act on what a listing leaves out.
absl::StatusOr<XmlReply> ParseListing(const std::string& body, const std::string& what);

// "2009-10-12T17:50:30.000Z" (ISO 8601, as listings give it) -> time; InfinitePast if unreadable.
absl::Time ParseIsoDate(const std::string& s);

absl::StatusOr<uint64_t> ParseSize(const std::string& s, const std::string& what);

}  // namespace mdb::storage::s3
