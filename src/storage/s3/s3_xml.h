// S3's XML replies read with libxml2 (Debian's libxml2): elements by name and their text, entities
// and character references decoded by the parser. No network access, no entity expansion
// beyond libxml2's own limits; a reply that is not XML reads as an empty document (the caller
// then sees no elements, as for a reply without them).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mdb::storage::s3 {

class XmlReply {
 public:
  static XmlReply Parse(std::string_view body);

  // The text of this element's first child element named `tag`, "" when there is none.
  std::string Text(std::string_view tag) const;
  // This element's child elements named `tag`, in document order.
  std::vector<XmlReply> Children(std::string_view tag) const;
  // Whether the reply parsed as XML.
  bool ok() const { return node_ != nullptr; }

 private:
  XmlReply(std::shared_ptr<void> doc, const void* node) : doc_(std::move(doc)), node_(node) {}
  std::shared_ptr<void> doc_;  // the xmlDoc, freed with the last element that refers to it
  const void* node_;           // an xmlNode of doc_: the root element, or one below it
};

// `s` with &, <, >, " and ' escaped, for the one XML body the client writes
// (CompleteMultipartUpload's ETags).
std::string XmlEscape(std::string_view s);

}  // namespace mdb::storage::s3
