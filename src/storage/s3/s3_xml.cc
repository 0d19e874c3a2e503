#include "storage/s3/s3_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <mutex>

namespace mdb::storage::s3 {
namespace {

const xmlNode* Node(const void* n) { return static_cast<const xmlNode*>(n); }

bool Named(const xmlNode* n, std::string_view tag) {
  if (n->type != XML_ELEMENT_NODE || n->name == nullptr) return false;
  return std::string_view(reinterpret_cast<const char*>(n->name)) == tag;
}

}  // namespace

XmlReply XmlReply::Parse(std::string_view body) {
  // libxml2 sets up its globals on first use; from several threads at once that races.
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
  xmlDoc* doc = xmlReadMemory(
      body.data(), static_cast<int>(std::min<size_t>(body.size(), INT32_MAX)), "s3-reply.xml",
      nullptr, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == nullptr) return XmlReply(nullptr, nullptr);
  std::shared_ptr<void> owner(doc, [](void* d) { xmlFreeDoc(static_cast<xmlDoc*>(d)); });
  return XmlReply(owner, xmlDocGetRootElement(doc));
}

std::string XmlReply::Text(std::string_view tag) const {
  if (!node_) return "";
  for (const xmlNode* c = Node(node_)->children; c; c = c->next) {
    if (!Named(c, tag)) continue;
    xmlChar* text = xmlNodeGetContent(c);
    std::string out = text ? reinterpret_cast<const char*>(text) : "";
    xmlFree(text);
    return out;
  }
  return "";
}

std::vector<XmlReply> XmlReply::Children(std::string_view tag) const {
  std::vector<XmlReply> out;
  if (!node_) return out;
  for (const xmlNode* c = Node(node_)->children; c; c = c->next) {
    if (Named(c, tag)) out.push_back(XmlReply(doc_, c));
  }
  return out;
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace mdb::storage::s3
