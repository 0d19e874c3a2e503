// Multipart uploads against the fake S3: parts in parallel and in order, the markers that let a
// cleanup find abandoned uploads where listings are per key (MinIO), a completion whose answer
// was lost, and the creation headers (encryption, storage class).
#include "storage/s3/s3_uploads.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/s3/s3_fake.h"
#include "storage/s3/s3_storage.h"

namespace mdb::storage {
namespace {

using s3::FakeS3;

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
  EXPECT_EQ(fake.Count("PUT"), 1 + 1 + 3);            // small, the marker, the parts
  EXPECT_EQ(fake.Count("DELETE"), 1);                 // the marker, once completed
  EXPECT_EQ(fake.Markers(), 0);
  EXPECT_EQ(*(*s)->Get("big"), "0123456789A");
  EXPECT_EQ(fake.OpenUploads(), 0u);
}

TEST(S3Multipart, PartsGoInParallelUpToTheLimit) {
  FakeS3 fake;
  fake.SlowParts(100);
  S3Options o = SmallParts(fake);
  o.upload_concurrency = 3;
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  std::string data;
  for (int i = 0; i < 40; ++i) data.push_back(static_cast<char>('a' + i % 26));
  ASSERT_TRUE((*s)->Put("big", data).ok());  // 10 parts
  EXPECT_EQ(*(*s)->Get("big"), data);        // in order, whatever order they were sent in
  EXPECT_GE(fake.MaxPartsInFlight(), 2);     // in parallel
  EXPECT_LE(fake.MaxPartsInFlight(), 3);     // within the limit
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

TEST(S3Multipart, FailedPartAbortsTheUploadAndDropsTheMarker) {
  FakeS3 fake;
  auto s = OpenS3Storage(SmallParts(fake));
  ASSERT_TRUE(s.ok()) << s.status();
  fake.Fail("PUT?uploadId", 100, 503, "SlowDown");
  absl::Status st = (*s)->Put("big", "0123456789A");
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StartsWith(st.message(), "s3 PUT 'pre/big' part ")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "/3: gave up after 4")) << st;
  EXPECT_EQ(fake.Count("DELETE"), 2);  // the abort, the marker
  EXPECT_EQ(fake.OpenUploads(), 0u);
  EXPECT_FALSE(fake.Has("pre/big"));
  EXPECT_EQ(fake.Markers(), 0);
}

// Puts "big" through a store that loses the answer to the first CompleteMultipartUpload (it comes
// after the timeout): the retry finds no upload.
std::unique_ptr<Storage> PutWithALostCompletion(FakeS3& fake, absl::Status* put) {
  S3Options o = SmallParts(fake);
  o.request_timeout = absl::Seconds(1);
  auto s = OpenS3Storage(o);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return nullptr;
  fake.LoseAnswers("POST?uploadId", 1, 2500);
  *put = (*s)->Put("big", "0123456789A");
  return std::move(*s);
}

// The object, with the parts' ETag, says the upload was completed.
TEST(S3Multipart, LostCompletionIsCheckedAgainstTheObject) {
  FakeS3 fake;
  absl::Status put;
  auto s = PutWithALostCompletion(fake, &put);
  ASSERT_TRUE(put.ok()) << put;
  EXPECT_EQ(fake.Count("POST"), 3);  // create, the completion, its retry (NoSuchUpload)
  EXPECT_EQ(*s->Get("big"), "0123456789A");
  EXPECT_EQ(fake.Markers(), 0);
  EXPECT_EQ(fake.OpenUploads(), 0u);
}

// Part ETags that are not MD5s (SSE-KMS) cannot confirm the object: a completion whose answer
// was lost is then an Unavailable the caller retries, never a NotFound.
TEST(S3Multipart, AnUnconfirmableLostCompletionIsUnavailable) {
  FakeS3 fake;
  fake.opaque_etags_ = true;
  absl::Status put;
  auto s = PutWithALostCompletion(fake, &put);
  EXPECT_EQ(put.code(), absl::StatusCode::kUnavailable) << put;
  EXPECT_TRUE(absl::StrContains(put.message(), "cannot be confirmed")) << put;
  ASSERT_TRUE(s->Put("big", "0123456789A").ok());  // the caller's retry
}

// A completion that really failed stays a failure: the object is not there.
TEST(S3Multipart, FailedCompletionIsNotMistakenForALostAnswer) {
  FakeS3 fake;
  auto s = OpenS3Storage(SmallParts(fake));
  ASSERT_TRUE(s.ok()) << s.status();
  // An older object of the same size under the key: only its ETag tells it from the new one.
  ASSERT_TRUE((*s)->Put("big", "ABCDEFGHIJK").ok());
  fake.Fail("POST?uploadId", 100, 500, "InternalError");
  absl::Status st = (*s)->Put("big", "0123456789A");
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_EQ(*(*s)->Get("big"), "ABCDEFGHIJK");
}

// A writer that stopped with its upload open (here: parts and abort both refused) leaves its
// marker; on a store that lists uploads only by exact key, the cleanup finds it through that.
TEST(S3Multipart, CleanupFindsAbandonedUploadsThroughMarkers) {
  FakeS3 fake;
  fake.exact_upload_listing_ = true;
  auto s = OpenS3Storage(SmallParts(fake));
  ASSERT_TRUE(s.ok()) << s.status();
  fake.Fail("PUT?uploadId", 100, 403, "AccessDenied");
  fake.Fail("DELETE?uploadId", 100, 403, "AccessDenied");
  EXPECT_FALSE((*s)->Put("packs/big", "0123456789A").ok());
  EXPECT_EQ(fake.OpenUploads(), 1u);
  EXPECT_EQ(fake.Markers(), 1);
  auto listed = (*s)->List("");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->empty()) << listed->front().key;  // the marker is the driver's own
  EXPECT_EQ((*s)->Put(".mdb-uploads/x", "v").code(), absl::StatusCode::kInvalidArgument);

  fake.Fail("DELETE?uploadId", 0, 0, "");
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::Hours(24 * 365 * 100)), 0);  // too young
  EXPECT_EQ(fake.OpenUploads(), 1u);
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::Hours(1)), 1);
  EXPECT_EQ(fake.OpenUploads(), 0u);
  EXPECT_EQ(fake.Markers(), 0);
}

TEST(S3Multipart, RemoveIncompleteAbortsOldUploadsUnderThePrefix) {
  FakeS3 fake;
  auto s = OpenS3Storage(fake.Options());
  ASSERT_TRUE(s.ok()) << s.status();
  s3::StartUpload(fake.Options(), "half");
  S3Options other = fake.Options();
  other.prefix = "other";
  s3::StartUpload(other, "half");  // outside the storage's prefix: not its business
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::Hours(24 * 365 * 100)), 0);
  EXPECT_EQ(*(*s)->RemoveIncomplete(absl::Hours(1)), 1);
  EXPECT_EQ(fake.OpenUploads(), 1u);
}

TEST(S3Multipart, NewObjectsCarryEncryptionAndStorageClass) {
  FakeS3 fake;
  S3Options o = SmallParts(fake);
  o.sse = "aws:kms";
  o.sse_kms_key_id = "key-1";
  o.storage_class = "STANDARD_IA";
  auto s = OpenS3Storage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("small", "0123").ok());
  ASSERT_TRUE((*s)->Put("big", "0123456789A").ok());
  std::string want = "x-amz-server-side-encryption=aws:kms;x-amz-storage-class=STANDARD_IA;";
  EXPECT_EQ(fake.created_with_["pre/small"], want);
  EXPECT_EQ(fake.created_with_["pre/big"], want);
}

TEST(S3Options, RefusesWhatWouldFailLater) {
  FakeS3 fake;
  auto refused = [&](auto change, const std::string& says) {
    S3Options o = fake.Options();
    change(o);
    auto s = OpenS3Storage(o);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << says;
    EXPECT_TRUE(absl::StrContains(s.status().message(), says)) << s.status();
  };
  refused([](S3Options& o) { o.sse = "aes"; }, "sse 'aes' is not AES256");
  refused([](S3Options& o) { o.sse_kms_key_id = "k"; }, "sse_kms_key_id needs sse=aws:kms");
  refused([](S3Options& o) { o.storage_class = "GLACIER"; }, "without a restore request");
  refused([](S3Options& o) { o.storage_class = "standard"; }, "is not an S3 class name");
  refused([](S3Options& o) { o.ca_file = "/nonexistent.pem"; }, "cannot read the CA bundle");
  refused([](S3Options& o) { o.upload_concurrency = 0; }, "upload_concurrency must be 1 to 64");
  refused([](S3Options& o) { o.secret_key = ""; }, "an access key needs its secret");
  // Both go into host names: nothing may steer a request (or a token) to another host.
  refused([](S3Options& o) { o.region = "x.evil.com/"; }, "is not a region name");
  refused(
      [](S3Options& o) {
        o.bucket = "evil.com:80/x";
        o.path_style = false;
      },
      "virtual-host addressing needs a bucket name");
  refused([](S3Options& o) { o.bucket = "a/b"; }, "a bucket name is letters");
}

TEST(S3Location, ReadsEveryParameter) {
  auto o = ParseS3Location(
      "s3://b/p/q?endpoint=https%3A%2F%2Fs3.example.com&region=eu-west-1&path_style=false"
      "&profile=backup&sts_endpoint=http://127.0.0.1:1&ca_file=/etc/ca.pem&sse=aws:kms"
      "&sse_kms_key_id=alias/mdb&storage_class=STANDARD_IA&timeout=45s&max_attempts=9"
      "&part_size_mb=64&upload_concurrency=8");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->bucket, "b");
  EXPECT_EQ(o->prefix, "p/q");
  EXPECT_EQ(o->endpoint, "https://s3.example.com");
  EXPECT_EQ(o->region, "eu-west-1");
  EXPECT_FALSE(o->path_style);
  EXPECT_EQ(o->profile, "backup");
  EXPECT_EQ(o->sts_endpoint, "http://127.0.0.1:1");
  EXPECT_EQ(o->ca_file, "/etc/ca.pem");
  EXPECT_EQ(o->sse, "aws:kms");
  EXPECT_EQ(o->sse_kms_key_id, "alias/mdb");
  EXPECT_EQ(o->storage_class, "STANDARD_IA");
  EXPECT_EQ(o->request_timeout, absl::Seconds(45));
  EXPECT_EQ(o->max_attempts, 9);
  EXPECT_EQ(o->part_size, 64u << 20);
  EXPECT_EQ(o->multipart_threshold, 64u << 20);
  EXPECT_EQ(o->upload_concurrency, 8);
  for (const char* bad :
       {"s3://b?timeout=0s", "s3://b?timeout=soon", "s3://b?max_attempts=0",
        "s3://b?part_size_mb=4", "s3://b?upload_concurrency=65", "s3://b?secret_key=x"}) {
    EXPECT_EQ(ParseS3Location(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(absl::StrContains(ParseS3Location("s3://b?secret_key=x").status().message(),
                                "known: ca_file, endpoint"));
}

TEST(S3Etag, MultipartEtagIsTheMd5OfThePartMd5s) {
  // Parts "a" and "b"; the expected value computed apart from this code, with Python's hashlib:
  // md5(md5(b"a").digest() + md5(b"b").digest()).hexdigest().
  EXPECT_EQ(s3::MultipartEtag(
                {"\"0cc175b9c0f1b6a831c399e269772661\"", "\"92eb5ffee6ae2fec3ad71c777531578f\""}),
            "96e024ba2074fe77e8e965ba43a704be-2");
  EXPECT_EQ(s3::MultipartEtag({"\"not-an-md5\""}), "");
}

}  // namespace
}  // namespace mdb::storage
