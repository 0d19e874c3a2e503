#include "common/http_rule.h"

#include "google/api/annotations.pb.h"

namespace mdb::common {

std::optional<HttpBinding> HttpBindingOf(const google::protobuf::MethodDescriptor* method) {
  if (!method->options().HasExtension(google::api::http)) return std::nullopt;
  const google::api::HttpRule& rule = method->options().GetExtension(google::api::http);
  HttpBinding b{.body = rule.body()};
  switch (rule.pattern_case()) {
    case google::api::HttpRule::kGet:
      b.verb = "GET", b.path = rule.get();
      break;
    case google::api::HttpRule::kPost:
      b.verb = "POST", b.path = rule.post();
      break;
    case google::api::HttpRule::kDelete:
      b.verb = "DELETE", b.path = rule.delete_();
      break;
    case google::api::HttpRule::kPatch:
      b.verb = "PATCH", b.path = rule.patch();
      break;
    case google::api::HttpRule::kPut:
      b.verb = "PUT", b.path = rule.put();
      break;
    default:
      return std::nullopt;
  }
  return b;
}

}  // namespace mdb::common
