// Pure logic of the S3 wire layer: endpoint parsing, path-style vs virtual-host addressing, XML.
#include "storage/s3/s3_client.h"

#include <gtest/gtest.h>

namespace mdb::storage::s3 {
namespace {

TEST(S3Endpoint, Parses) {
  auto ep = ParseEndpoint("http://127.0.0.1:7070");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->scheme, "http");
  EXPECT_EQ(ep->authority, "127.0.0.1:7070");
  EXPECT_EQ(ep->base_path, "");
  ep = ParseEndpoint("HTTPS://storage.example.com/s3/");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->scheme, "https");
  EXPECT_EQ(ep->base_path, "/s3");
  for (const char* bad :
       {"127.0.0.1:7070", "ftp://h", "http://", "http://h/?x=1", "http://user:pw@h"}) {
    EXPECT_EQ(ParseEndpoint(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(S3Target, PathStyle) {
  Endpoint ep = *ParseEndpoint("http://127.0.0.1:7070");
  Target t = BuildTarget(ep, "mdb-test", "backups/packs/ab", true);
  EXPECT_EQ(t.url, "http://127.0.0.1:7070/mdb-test/backups/packs/ab");
  EXPECT_EQ(t.host, "127.0.0.1:7070");
  EXPECT_EQ(t.canonical_uri, "/mdb-test/backups/packs/ab");
  t = BuildTarget(ep, "mdb-test", "", true);  // bucket-level (ListObjectsV2)
  EXPECT_EQ(t.url, "http://127.0.0.1:7070/mdb-test");
  EXPECT_EQ(t.canonical_uri, "/mdb-test");
}

TEST(S3Target, VirtualHost) {
  Endpoint ep = *ParseEndpoint("https://s3.eu-west-1.amazonaws.com");
  Target t = BuildTarget(ep, "my-bucket", "backups/packs/ab", false);
  EXPECT_EQ(t.url, "https://my-bucket.s3.eu-west-1.amazonaws.com/backups/packs/ab");
  EXPECT_EQ(t.host, "my-bucket.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(t.canonical_uri, "/backups/packs/ab");
  t = BuildTarget(ep, "my-bucket", "", false);
  EXPECT_EQ(t.url, "https://my-bucket.s3.eu-west-1.amazonaws.com/");
  EXPECT_EQ(t.canonical_uri, "/");
}

TEST(S3Target, EncodesEachSegmentAndKeepsSlashes) {
  Endpoint ep = *ParseEndpoint("http://minio:9000/base");
  Target t = BuildTarget(ep, "b", "a b/c+d/e~f", true);
  EXPECT_EQ(t.canonical_uri, "/base/b/a%20b/c%2Bd/e~f");
  EXPECT_EQ(t.url, "http://minio:9000/base/b/a%20b/c%2Bd/e~f");
}

TEST(S3Xml, ElementsTextAndEntities) {
  std::string xml =
      "<?xml version=\"1.0\"?><ListBucketResult><KeyCount>2</KeyCount>"
      "<Contents><Key>a&amp;b&lt;&#x41;&#66;&#xE9;</Key><Size>5</Size></Contents>"
      "<Contents><Key>z</Key><Size/></Contents><IsTruncated>false</IsTruncated>"
      "</ListBucketResult>";
  size_t pos = 0;
  auto first = XmlElement(xml, "Contents", &pos);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(XmlText(*first, "Key"), "a&b<AB\xC3\xA9");  // <Key> does not match <KeyCount>
  EXPECT_EQ(XmlText(*first, "Size"), "5");
  auto second = XmlElement(xml, "Contents", &pos);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(XmlText(*second, "Key"), "z");
  EXPECT_EQ(XmlText(*second, "Size"), "");
  EXPECT_FALSE(XmlElement(xml, "Contents", &pos).has_value());
  EXPECT_EQ(XmlText(xml, "KeyCount"), "2");
  EXPECT_EQ(XmlText(xml, "Missing"), "");
  EXPECT_EQ(XmlUnescape("a &unknown; b & c"), "a &unknown; b & c");
  EXPECT_EQ(XmlEscape("\"e<t>&'"), "&quot;e&lt;t&gt;&amp;&apos;");
}

}  // namespace
}  // namespace mdb::storage::s3
