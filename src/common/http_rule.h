// A method's REST binding from its `google.api.http` rule: the one reading of the rule that the
// REST router, the OpenAPI document and the CLI share.
#pragma once

#include <optional>
#include <string>

#include "google/protobuf/descriptor.h"

namespace mdb::common {

struct HttpBinding {
  std::string verb;  // "GET", "POST", "DELETE", "PATCH", "PUT"
  std::string path;  // the rule's template, e.g. "/managed-redis/v1/clusters/{cluster_id}:backup"
  std::string body;  // "" (none), "*" or a field name
};

// nullopt for a method without a rule or with a kind of rule other than those five verbs.
std::optional<HttpBinding> HttpBindingOf(const google::protobuf::MethodDescriptor* method);

}  // namespace mdb::common
