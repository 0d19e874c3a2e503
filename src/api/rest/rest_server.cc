// cpp-httplib (Debian's libcpp-httplib) serves HTTP/1.1 with keep-alive on a thread pool; all
// request handling is in HandleRequest, which knows nothing of the HTTP library.
#include "api/rest/rest_server.h"

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/status_map.h"
#include "common/ids.h"
#include "common/status.h"
#include "google/protobuf/util/json_util.h"

namespace mdb::api::rest {
namespace {

using google::protobuf::FieldDescriptor;

HttpResult Error(const absl::Status& st) {
  return {.status = HttpStatusFor(st.code()), .body = StatusToJson(st)};
}

// Sets a singular scalar field named by proto or JSON name from its text form, as grpc-gateway
// does for path and query parameters. Nested fields use dots ("recovery_target_spec.timestamp").
absl::Status SetFromText(Message* m, const std::string& name, const std::string& value) {
  size_t dot = name.find('.');
  std::string head = dot == std::string::npos ? name : name.substr(0, dot);
  const auto* d = m->GetDescriptor();
  const FieldDescriptor* f = d->FindFieldByName(head);
  if (!f) f = d->FindFieldByCamelcaseName(head);
  if (!f) {
    for (int i = 0; i < d->field_count() && !f; ++i) {
      if (d->field(i)->json_name() == head) f = d->field(i);
    }
  }
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid parameter '", name, "': ", why));
  };
  if (!f) return bad("no such field");
  const auto* r = m->GetReflection();
  if (dot != std::string::npos) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) {
      return bad("not a message field");
    }
    return SetFromText(r->MutableMessage(m, f), name.substr(dot + 1), value);
  }
  if (f->is_repeated()) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) return bad("unsupported repeated field");
    r->AddString(m, f, value);
    return absl::OkStatus();
  }
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      r->SetString(m, f, value);
      break;
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad(absl::StrCat("'", value, "' is not an integer"));
      r->SetInt64(m, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad(absl::StrCat("'", value, "' is not an integer"));
      r->SetInt32(m, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (!absl::SimpleAtob(value, &v)) return bad(absl::StrCat("'", value, "' is not a boolean"));
      r->SetBool(m, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* ev = f->enum_type()->FindValueByName(value);
      int n;
      if (!ev && absl::SimpleAtoi(value, &n)) ev = f->enum_type()->FindValueByNumber(n);
      if (!ev) return bad(absl::StrCat("'", value, "' is not a ", f->enum_type()->name()));
      r->SetEnum(m, f, ev);
      break;
    }
    default:
      return bad("this field cannot be given as a parameter");
  }
  return absl::OkStatus();
}

}  // namespace

HttpResult HandleRequest(Api* api, const Router& router, const std::string& verb,
                         const std::string& target, const std::string& body,
                         const std::multimap<std::string, std::string>& query,
                         const std::string& authorization) {
  std::string path = target.substr(0, target.find('?'));
  std::string allowed;
  std::optional<RouteMatch> match = router.Match(verb, path, &allowed);
  if (!match) {
    if (!allowed.empty()) {
      return {.status = 405,
              .body = StatusToJson(absl::UnimplementedError(absl::StrCat(
                  "method ", verb, " is not allowed on '", path, "' (allowed: ", allowed, ")")))};
    }
    return Error(absl::NotFoundError(absl::StrCat("no API route for ", verb, " '", path, "'")));
  }
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<Message> req(factory->GetPrototype(match->method->input_type())->New());
  std::unique_ptr<Message> resp(factory->GetPrototype(match->method->output_type())->New());

  // Body first, then query, then path: the path is the most specific and wins.
  if (match->body == "*") {
    if (!body.empty()) {
      google::protobuf::util::JsonParseOptions opts;
      opts.ignore_unknown_fields = true;  // the contract's clients may send newer fields
      auto st = google::protobuf::util::JsonStringToMessage(body, req.get(), opts);
      if (!st.ok()) {
        return Error(absl::InvalidArgumentError(
            absl::StrCat("the request body is not a valid ", match->method->input_type()->name(),
                         " JSON: ", std::string(st.message()))));
      }
    }
  }
  for (const auto& [k, v] : query) {
    absl::Status st = SetFromText(req.get(), k, v);
    if (!st.ok()) return Error(st);
  }
  for (const auto& [k, v] : match->path_params) {
    absl::Status st = SetFromText(req.get(), k, v);
    if (!st.ok()) return Error(st);
  }

  absl::Status st = api->Call(match->method, authorization, *req, resp.get());
  if (!st.ok()) return Error(st);
  HttpResult result;
  google::protobuf::util::JsonPrintOptions opts;
  auto js = google::protobuf::util::MessageToJsonString(*resp, &result.body, opts);
  if (!js.ok()) {
    return Error(absl::InternalError(
        absl::StrCat("cannot encode the response: ", std::string(js.message()))));
  }
  return result;
}

RestServer::RestServer(Api* api, Router router) : api_(api), router_(std::move(router)) {}

RestServer::~RestServer() { Stop(); }

absl::Status RestServer::Start(const std::string& listen) {
  size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid REST listen address '", listen, "'"));
  }
  std::string host = listen.substr(0, colon);
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new httplib::ThreadPool(8); };
  // Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and the
  // client's delayed ACK add ~40 ms to every keep-alive response (measured by bench/api).
  server_->set_tcp_nodelay(true);
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    std::multimap<std::string, std::string> query(req.params.begin(), req.params.end());
    HttpResult r = HandleRequest(api_, router_, req.method, req.target, req.body, query,
                                 req.get_header_value("Authorization"));
    res.status = r.status;
    res.set_header("X-Request-Id", common::NewId());
    res.set_content(r.body, "application/json");
  };
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  server_->Delete(".*", handler);
  server_->Put(".*", handler);
  server_->Patch(".*", handler);
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
    if (port_ < 0)
      return absl::UnavailableError(absl::StrCat("cannot bind REST on '", listen, "'"));
  } else {
    if (!server_->bind_to_port(host, port)) {
      return absl::UnavailableError(
          absl::StrCat("cannot bind REST on '", listen, "': is the port already in use?"));
    }
    port_ = port;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void RestServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace mdb::api::rest
