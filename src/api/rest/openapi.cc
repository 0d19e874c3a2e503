#include "api/rest/openapi.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/http_rule.h"

namespace mdb::api::rest {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::ordered_json;

// JSON shapes of the well-known types, as the proto3 JSON mapping writes them.
const std::map<std::string, Json>& WellKnown() {
  static const auto* known = new std::map<std::string, Json>{
      {"google.protobuf.Timestamp", {{"type", "string"}, {"format", "date-time"}}},
      {"google.protobuf.Duration", {{"type", "string"}, {"example", "1.5s"}}},
      {"google.protobuf.FieldMask", {{"type", "string"}}},
      {"google.protobuf.Empty", {{"type", "object"}}},
      {"google.protobuf.Struct", {{"type", "object"}, {"additionalProperties", true}}},
      {"google.protobuf.Value", Json::object()},
      {"google.protobuf.Any",
       {{"type", "object"},
        {"properties", {{"@type", {{"type", "string"}}}}},
        {"additionalProperties", true}}},
      {"google.protobuf.Int64Value", {{"type", "string"}, {"format", "int64"}}},
      {"google.protobuf.UInt64Value", {{"type", "string"}, {"format", "uint64"}}},
      {"google.protobuf.Int32Value", {{"type", "integer"}, {"format", "int32"}}},
      {"google.protobuf.UInt32Value", {{"type", "integer"}, {"format", "int32"}}},
      {"google.protobuf.DoubleValue", {{"type", "number"}}},
      {"google.protobuf.FloatValue", {{"type", "number"}}},
      {"google.protobuf.BoolValue", {{"type", "boolean"}}},
      {"google.protobuf.StringValue", {{"type", "string"}}},
      {"google.protobuf.BytesValue", {{"type", "string"}, {"format", "byte"}}},
  };
  return *known;
}

Json Ref(const Descriptor* d) {
  return {{"$ref", absl::StrCat("#/components/schemas/", d->full_name())}};
}

class SchemaWriter {
 public:
  // The schema of a message used by reference, its own (and those it uses) added once.
  Json Use(const Descriptor* d) {
    if (auto it = WellKnown().find(std::string(d->full_name())); it != WellKnown().end()) {
      return it->second;
    }
    if (seen_.insert(d).second) {
      Json properties = Json::object();
      for (int i = 0; i < d->field_count(); ++i) {
        const FieldDescriptor* f = d->field(i);
        properties[std::string(f->json_name())] = Field(f);
      }
      schemas_[std::string(d->full_name())] = {{"type", "object"}, {"properties", properties}};
    }
    return Ref(d);
  }

  // A field's schema: repeated as an array, a map as an object, a scalar as proto3 JSON has it.
  Json Field(const FieldDescriptor* f) {
    if (f->is_map()) {
      return {{"type", "object"}, {"additionalProperties", Single(f->message_type()->map_value())}};
    }
    if (f->is_repeated()) return {{"type", "array"}, {"items", Single(f)}};
    return Single(f);
  }

  Json Single(const FieldDescriptor* f) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT64:
      case FieldDescriptor::CPPTYPE_UINT64:  // 64-bit integers are strings in proto3 JSON
        return {{"type", "string"}, {"format", "int64"}};
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_UINT32:
        return {{"type", "integer"}, {"format", "int32"}};
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT:
        return {{"type", "number"}};
      case FieldDescriptor::CPPTYPE_BOOL:
        return {{"type", "boolean"}};
      case FieldDescriptor::CPPTYPE_ENUM: {
        Json names = Json::array();
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          names.push_back(std::string(f->enum_type()->value(i)->name()));
        }
        return {{"type", "string"}, {"enum", names}};
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return Use(f->message_type());
      case FieldDescriptor::CPPTYPE_STRING:
        if (f->type() == FieldDescriptor::TYPE_BYTES) {
          return {{"type", "string"}, {"format", "byte"}};
        }
        return {{"type", "string"}};
    }
    return Json::object();
  }

  Json schemas() const {
    Json out = Json::object();
    for (const auto& [name, schema] : schemas_) out[name] = schema;
    return out;
  }

 private:
  std::set<const Descriptor*> seen_;
  std::map<std::string, Json> schemas_;  // by name: the document is the same at every start
};

// The answer of every error: google.rpc.Status.
Json ErrorSchema() {
  return {{"type", "object"},
          {"properties",
           {{"code", {{"type", "integer"}, {"description", "the canonical gRPC code"}}},
            {"message", {{"type", "string"}}},
            {"details", {{"type", "array"}, {"items", WellKnown().at("google.protobuf.Any")}}}}}};
}

// The probes served beside the API.
void AddProbes(Json* paths) {
  auto probe = [](const char* summary, const char* type, bool token) {
    Json op = {{"operationId", summary},
               {"summary", summary},
               {"responses",
                {{"200", {{"description", "OK"}, {"content", {{type, Json::object()}}}}},
                 {"default",
                  {{"description", "an error"},
                   {"content",
                    {{"application/json",
                      {{"schema", {{"$ref", "#/components/schemas/google.rpc.Status"}}}}}}}}}}}};
    if (!token) op["security"] = Json::array();
    return Json{{"get", op}};
  };
  (*paths)["/healthz"] = probe("the process answers (liveness)", "application/json", false);
  (*paths)["/readyz"] = probe("the catalog answers (readiness)", "application/json", false);
  (*paths)["/metrics"] =
      probe("Prometheus metrics (a token that reads every folder)", "text/plain", true);
  (*paths)["/openapi.json"] = probe("this document", "application/json", false);
}

}  // namespace

std::string OpenApiJson(const std::vector<const google::protobuf::ServiceDescriptor*>& services) {
  SchemaWriter schemas;
  Json paths = Json::object();
  for (const auto* s : services) {
    for (int i = 0; i < s->method_count(); ++i) {
      const auto* m = s->method(i);
      std::optional<common::HttpBinding> binding = common::HttpBindingOf(m);
      if (!binding) continue;
      const std::string verb = absl::AsciiStrToLower(binding->verb);
      const std::string& path = binding->path;
      const Descriptor* in = m->input_type();
      Json parameters = Json::array();
      std::set<std::string> in_path;
      for (absl::string_view part : absl::StrSplit(path, absl::ByAnyChar("{}"))) {
        if (const FieldDescriptor* f = in->FindFieldByName(std::string(part));
            f && absl::StrContains(path, absl::StrCat("{", part, "}"))) {
          in_path.insert(std::string(part));
          parameters.push_back({{"name", std::string(part)},
                                {"in", "path"},
                                {"required", true},
                                {"schema", schemas.Single(f)}});
        }
      }
      Json op = {{"operationId", absl::StrCat(s->full_name(), ".", m->name())},
                 {"tags", Json::array({std::string(s->full_name())})}};
      if (binding->body.empty()) {
        // Every other scalar field of the request is a query parameter, by its JSON name.
        for (int k = 0; k < in->field_count(); ++k) {
          const FieldDescriptor* f = in->field(k);
          if (in_path.count(std::string(f->name())) ||
              f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
            continue;
          }
          parameters.push_back({{"name", std::string(f->json_name())},
                                {"in", "query"},
                                {"schema", schemas.Field(f)}});
        }
      } else {
        op["requestBody"] = {{"required", true},
                             {"content", {{"application/json", {{"schema", schemas.Use(in)}}}}}};
      }
      if (!parameters.empty()) op["parameters"] = parameters;
      op["responses"] = {
          {"200",
           {{"description", "OK"},
            {"content", {{"application/json", {{"schema", schemas.Use(m->output_type())}}}}}}},
          {"default",
           {{"description", "an error: the gRPC code and a message a person can act on"},
            {"content",
             {{"application/json",
               {{"schema", {{"$ref", "#/components/schemas/google.rpc.Status"}}}}}}}}}};
      paths[path][verb] = op;
    }
  }
  AddProbes(&paths);
  Json components = {{"schemas", schemas.schemas()},
                     {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}};
  components["schemas"]["google.rpc.Status"] = ErrorSchema();
  Json doc = {{"openapi", "3.0.3"},
              {"info",
               {{"title",
                 "mdb-backup: the Backup API of managed Greenplum, MongoDB, Redis and "
                 "OpenSearch"},
                {"version", "v1"}}},
              {"security", Json::array({{{"bearer", Json::array()}}})},
              {"paths", paths},
              {"components", components}};
  return doc.dump(1);
}

}  // namespace mdb::api::rest
