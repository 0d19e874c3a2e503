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
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<KeyCount>2</KeyCount>"
      "<Contents><Key>a&amp;b&lt;&#x41;&#66;&#xE9;</Key><Size>5</Size></Contents>"
      "<Contents><Key>z</Key><Size/></Contents><IsTruncated>false</IsTruncated>"
      "</ListBucketResult>";
  XmlReply reply = XmlReply::Parse(xml);
  ASSERT_TRUE(reply.ok());
  auto contents = reply.Children("Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(contents[0].Text("Key"), "a&b<AB\xC3\xA9");  // <Key> does not match <KeyCount>
  EXPECT_EQ(contents[0].Text("Size"), "5");
  EXPECT_EQ(contents[1].Text("Key"), "z");
  EXPECT_EQ(contents[1].Text("Size"), "");
  EXPECT_EQ(reply.Text("KeyCount"), "2");
  EXPECT_EQ(reply.Text("Missing"), "");
  // Not XML (a proxy's error page, a cut body): no elements, and ok() says so.
  EXPECT_FALSE(XmlReply::Parse("<html><body>502 Bad Gateway").ok());
  EXPECT_FALSE(XmlReply::Parse("").ok());
  // An entity defined by the reply is not fetched from the network nor expanded without bound.
  XmlReply external = XmlReply::Parse(
      "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"http://127.0.0.1:1/x\">]>"
      "<r><Key>&x;</Key></r>");
  EXPECT_EQ(external.Text("Key"), "");
  EXPECT_EQ(XmlEscape("\"e<t>&'"), "&quot;e&lt;t&gt;&amp;&apos;");
}

}  // namespace
}  // namespace mdb::storage::s3
