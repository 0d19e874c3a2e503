#include "cli/api_paths.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/http_rule.h"
#include "google/api/annotations.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "mdb_backup/v1/recovery_service.pb.h"

namespace mdb::cli {
namespace {

using google::protobuf::MethodDescriptor;

const MethodDescriptor* FindMethod(const common::EngineInfo& engine, const std::string& method) {
  size_t dot = method.find('.');
  for (const auto* service : engine.api_services()) {
    if (service->name() == method.substr(0, dot)) {
      return service->FindMethodByName(method.substr(dot + 1));
    }
  }
  return nullptr;
}

}  // namespace

std::string JsonString(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  std::string out;
  // A string Value prints as a JSON string; invalid UTF-8 fails and is sent as "" (refused).
  if (!google::protobuf::util::MessageToJsonString(v, &out).ok()) return "\"\"";
  return out;
}

std::string UrlEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

absl::StatusOr<RestCall> RestCallOf(const common::EngineInfo& engine, const std::string& method,
                                    const std::map<std::string, std::string>& params) {
  const MethodDescriptor* m = FindMethod(engine, method);
  if (!m || !m->options().HasExtension(google::api::http)) {
    return absl::NotFoundError(
        absl::StrCat(std::string(engine.name), " has no ", method, " in its API"));
  }
  std::optional<common::HttpBinding> binding = common::HttpBindingOf(m);
  if (!binding ||
      (binding->verb != "GET" && binding->verb != "POST" && binding->verb != "DELETE")) {
    return absl::UnimplementedError(absl::StrCat(method, " has a verb the CLI does not speak"));
  }
  RestCall call = {binding->verb, binding->path};
  for (const auto& [name, value] : params) {
    absl::StrReplaceAll({{absl::StrCat("{", name, "}"), UrlEscape(value)}}, &call.path);
  }
  if (call.path.find('{') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(method, " needs more than was given: ", call.path));
  }
  return call;
}

absl::StatusOr<RestCall> DeleteBackupCall(const common::EngineInfo& engine,
                                          const std::string& backup_id,
                                          const std::string& cluster_id) {
  if (FindMethod(engine, "BackupService.Delete")) {
    return RestCallOf(engine, "BackupService.Delete", {{"backup_id", backup_id}});
  }
  if (cluster_id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(engine.name), " deletes backups through their cluster: give --cluster"));
  }
  return RestCallOf(engine, "ClusterService.DeleteBackup",
                    {{"backup_id", backup_id}, {"cluster_id", cluster_id}});
}

absl::StatusOr<std::string> BackupFolder(const common::EngineInfo& engine,
                                         const std::string& json) {
  const MethodDescriptor* get = FindMethod(engine, "BackupService.Get");
  if (!get) return absl::NotFoundError(absl::StrCat(std::string(engine.name), " has no backups"));
  std::unique_ptr<google::protobuf::Message> backup(
      google::protobuf::MessageFactory::generated_factory()
          ->GetPrototype(get->output_type())
          ->New());
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(json, backup.get(), options).ok()) {
    return absl::InvalidArgumentError("the server's answer is not a backup");
  }
  const auto* folder = get->output_type()->FindFieldByName("folder_id");
  return folder ? backup->GetReflection()->GetString(*backup, folder) : "";
}

absl::StatusOr<yandex::cloud::operation::Operation> ParseOperation(const std::string& json) {
  yandex::cloud::operation::Operation op;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(json, &op, options);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the server's answer is not an operation: ", st.ToString()));
  }
  return op;
}

std::pair<int64_t, int64_t> OperationProgress(const yandex::cloud::operation::Operation& op) {
  const std::string& url = op.metadata().type_url();
  const auto* type = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
      url.substr(url.rfind('/') + 1));
  if (!type) return {0, 0};
  // The server's metadata types carry them as int64 (fields 100/101); any other shape (a newer
  // or foreign server) shows no progress rather than failing a reflection check.
  const auto* done = type->FindFieldByName("bytes_done");
  const auto* total = type->FindFieldByName("bytes_total");
  auto is_int64 = [](const google::protobuf::FieldDescriptor* f) {
    return f && !f->is_repeated() &&
           f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_INT64;
  };
  if (!is_int64(done) || !is_int64(total)) return {0, 0};
  std::unique_ptr<google::protobuf::Message> meta(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  if (!op.metadata().UnpackTo(meta.get())) return {0, 0};
  const auto* r = meta->GetReflection();
  return {r->GetInt64(*meta, done), r->GetInt64(*meta, total)};
}

namespace {

// From the proto's own http rule, as every other path here: one description of the API.
std::string RecoveryServicePath(const char* rpc, const std::string& var, const std::string& value) {
  const auto* method = mdb_backup::v1::GetRecoveryWindowRequest::descriptor()
                           ->file()
                           ->FindServiceByName("RecoveryService")
                           ->FindMethodByName(rpc);
  std::string path = common::HttpBindingOf(method)->path;
  return path.replace(path.find(var), var.size(), UrlEscape(value));
}

}  // namespace

std::string RecoveryWindowPath(const std::string& cluster_id) {
  return RecoveryServicePath("GetRecoveryWindow", "{cluster_id}", cluster_id);
}

std::string VerificationsPath(const std::string& cluster_id) {
  return RecoveryServicePath("ListVerifications", "{cluster_id}", cluster_id);
}

std::string DrillPath(const std::string& backup_id) {
  return RecoveryServicePath("DrillBackup", "{backup_id}", backup_id);
}

}  // namespace mdb::cli
