#include "api/fields.h"

#include "absl/strings/str_cat.h"

namespace mdb::api {

using google::protobuf::FieldDescriptor;

std::string GetString(const google::protobuf::Message& m, const char* name) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(name);
  return f && f->cpp_type() == FieldDescriptor::CPPTYPE_STRING && !f->is_repeated()
             ? m.GetReflection()->GetString(m, f)
             : std::string();
}

int64_t GetInt64(const google::protobuf::Message& m, const char* name) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(name);
  return f && f->cpp_type() == FieldDescriptor::CPPTYPE_INT64 && !f->is_repeated()
             ? m.GetReflection()->GetInt64(m, f)
             : 0;
}

void SetStringIfPresent(google::protobuf::Message* m, const char* name, const std::string& value) {
  const FieldDescriptor* f = m->GetDescriptor()->FindFieldByName(name);
  if (f && f->cpp_type() == FieldDescriptor::CPPTYPE_STRING && !f->is_repeated()) {
    m->GetReflection()->SetString(m, f, value);
  }
}

absl::StatusOr<int> PageSize(const google::protobuf::Message& req) {
  constexpr int kDefaultPageSize = 100;
  int64_t size = GetInt64(req, "page_size");
  if (size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid 'page_size': ", size, " is negative; use 0 for the default of 100"));
  }
  if (size > 1000) {  // the contract's bound; annotated on most requests, checked here for all
    return absl::InvalidArgumentError(
        absl::StrCat("invalid 'page_size': ", size, " is over the maximum of 1000"));
  }
  return size == 0 ? kDefaultPageSize : static_cast<int>(size);
}

}  // namespace mdb::api
