#include "ops/operation_metadata.h"

#include <memory>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace mdb::ops {
namespace {

using google::protobuf::FieldDescriptor;

// The metadata, unpacked into a message of its own type (nullptr when that type is unknown).
std::unique_ptr<google::protobuf::Message> Unpacked(const google::protobuf::Any& any) {
  const std::string& url = any.type_url();
  const auto* type = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
      url.substr(url.rfind('/') + 1));
  if (!type) return nullptr;
  std::unique_ptr<google::protobuf::Message> m(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  if (!any.UnpackTo(m.get())) return nullptr;
  return m;
}

const FieldDescriptor* Scalar(const google::protobuf::Message& m, const char* name,
                              FieldDescriptor::CppType type) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(name);
  return f && !f->is_repeated() && f->cpp_type() == type ? f : nullptr;
}

}  // namespace

void SetProgress(::yandex::cloud::operation::Operation* op, int64_t done, int64_t total) {
  auto meta = Unpacked(op->metadata());
  if (!meta) return;
  const auto* done_field = Scalar(*meta, "bytes_done", FieldDescriptor::CPPTYPE_INT64);
  const auto* total_field = Scalar(*meta, "bytes_total", FieldDescriptor::CPPTYPE_INT64);
  if (!done_field || !total_field) return;
  meta->GetReflection()->SetInt64(meta.get(), done_field, done);
  meta->GetReflection()->SetInt64(meta.get(), total_field, total);
  op->mutable_metadata()->PackFrom(*meta);
}

std::string ClusterOf(const ::yandex::cloud::operation::Operation& op) {
  auto meta = Unpacked(op.metadata());
  const auto* field = meta ? Scalar(*meta, "cluster_id", FieldDescriptor::CPPTYPE_STRING) : nullptr;
  return field ? meta->GetReflection()->GetString(*meta, field) : "";
}

}  // namespace mdb::ops
