#include "api/spliced.h"

#include <cstring>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace mdb::api {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;

namespace {
uint32_t Tag(int number) {
  return WireFormatLite::MakeTag(number, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
}
}  // namespace

size_t SplicedField::WireSize() const {
  const size_t tag = CodedOutputStream::VarintSize32(Tag(number));
  size_t n = 0;
  for (const auto& item : items) {
    n += tag + CodedOutputStream::VarintSize32(static_cast<uint32_t>(item->size())) + item->size();
  }
  return n;
}

uint8_t* SplicedField::Write(uint8_t* out) const {
  const uint32_t tag = Tag(number);
  for (const auto& item : items) {
    out = CodedOutputStream::WriteVarint32ToArray(tag, out);
    out = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(item->size()), out);
    if (!item->empty()) memcpy(out, item->data(), item->size());
    out += item->size();
  }
  return out;
}

}  // namespace mdb::api
