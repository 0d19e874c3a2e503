// The HTTP side is HttpListener (bounded, event-driven); all request handling is in HandleRequest,
// which knows nothing of it.
#include "api/rest/rest_server.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/rest/openapi.h"
#include "api/status_map.h"
#include "api/validation.h"
#include "common/ids.h"
#include "common/status.h"
#include "console/console.h"
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
    return absl::InvalidArgumentError(absl::StrCat("invalid parameter ", Quoted(name), ": ", why));
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
      if (!absl::SimpleAtoi(value, &v))
        return bad(absl::StrCat(Quoted(value), " is not an integer"));
      r->SetInt64(m, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(value, &v))
        return bad(absl::StrCat(Quoted(value), " is not an integer"));
      r->SetInt32(m, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (!absl::SimpleAtob(value, &v))
        return bad(absl::StrCat(Quoted(value), " is not a boolean"));
      r->SetBool(m, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* ev = f->enum_type()->FindValueByName(value);
      int n;
      if (!ev && absl::SimpleAtoi(value, &n)) ev = f->enum_type()->FindValueByNumber(n);
      if (!ev) return bad(absl::StrCat(Quoted(value), " is not a ", f->enum_type()->name()));
      r->SetEnum(m, f, ev);
      break;
    }
    default:
      return bad("this field cannot be given as a parameter");
  }
  return absl::OkStatus();
}

// GET /readyz: whether this instance can serve (its catalog answers), for a load balancer's
// health check; it reveals nothing else and needs no token.
bool IsReadyz(const HttpRequest& req) { return req.verb == "GET" && req.target == "/readyz"; }
// GET /healthz: the process answers (for an orchestrator's liveness probe); no token.
bool IsHealthz(const HttpRequest& req) { return req.verb == "GET" && req.target == "/healthz"; }
bool IsMetrics(const HttpRequest& req) { return req.verb == "GET" && req.target == "/metrics"; }

}  // namespace

HttpResult HandleRequest(Api* api, const Router& router, const std::string& verb,
                         const std::string& target, const std::string& body,
                         const std::multimap<std::string, std::string>& query,
                         const Caller& caller) {
  std::string path = target.substr(0, target.find('?'));
  std::string allowed;
  std::optional<RouteMatch> match = router.Match(verb, path, &allowed);
  if (!match) {
    // The contract's other cluster methods (Create, Update, Delete, Start, Stop, Move...):
    // known to clients, not served by a service that manages no cluster.
    for (const auto& row : api->engines().rows()) {
      if (absl::StartsWith(path, std::string(row.rest_prefix) + "/clusters")) {
        return Error(absl::UnimplementedError(absl::StrCat(
            Quoted(verb), " ", Quoted(path),
            " is not served: this service protects the clusters declared in its config; it "
            "does not create, change, start, stop or delete clusters")));
      }
    }
    if (!allowed.empty()) {
      return {.status = 405,
              .body = StatusToJson(absl::UnimplementedError(
                  absl::StrCat("method ", Quoted(verb), " is not allowed on ", Quoted(path),
                               " (allowed: ", allowed, ")")))};
    }
    return Error(
        absl::NotFoundError(absl::StrCat("no API route for ", Quoted(verb), " ", Quoted(path))));
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

  absl::Status st = api->Call(match->method, caller, *req, resp.get());
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

RestServer::RestServer(Api* api, Router router, HttpLimits limits)
    : api_(api), router_(std::move(router)), limits_(limits) {
  // The console runs only its own script, talks only to this server, and is never framed (no
  // clickjacking of its buttons).
  const std::vector<std::pair<std::string, std::string>> csp = {
      {"Content-Security-Policy",
       "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'"},
      {"Cache-Control", "no-cache"}};
  for (const auto& file : console::Files()) {
    public_[std::string(file.path)] = {.status = 200,
                                       .body = std::string(file.body),
                                       .content_type = std::string(file.content_type),
                                       .headers = csp};
  }
  public_["/openapi.json"] = {.status = 200,
                              .body = OpenApiJson(PublicServices(api_->engines())),
                              .content_type = "application/json"};
}

const HttpReply* RestServer::PublicDocument(const HttpRequest& req) const {
  if (req.verb != "GET") return nullptr;
  auto it = public_.find(req.target.substr(0, req.target.find('?')));
  return it == public_.end() ? nullptr : &it->second;
}

RestServer::~RestServer() { Stop(); }

absl::Status RestServer::Start(const std::string& listen, const common::TlsConfig& tls) {
  // Before the body: whoever cannot authenticate costs the server the headers only.
  auto admit = [this](const HttpRequest& headers) -> HttpReply {
    if (IsReadyz(headers) || IsHealthz(headers) || PublicDocument(headers)) {
      // No token, so no body either: nothing of an unauthenticated request is read past its
      // headers.
      if (headers.has_body) {
        return Error(absl::InvalidArgumentError(absl::StrCat(
            Quoted(headers.target.substr(0, headers.target.find('?'))), " takes no request body")));
      }
      return HttpReply{.status = 0};
    }
    absl::Status st =
        api_->Admit({.authorization = headers.authorization, .address = headers.client});
    return st.ok() ? HttpReply{.status = 0} : Error(st);
  };
  auto handle = [this](const HttpRequest& req) -> HttpReply {
    if (IsReadyz(req)) {
      absl::Status ready = api_->Ready();
      if (ready.ok()) return HttpReply{.status = 200, .body = "{\"ready\":true}"};
      return Error(ready);
    }
    if (IsHealthz(req)) return HttpReply{.status = 200, .body = "{\"alive\":true}"};
    if (const HttpReply* doc = PublicDocument(req)) return *doc;
    if (IsMetrics(req)) {
      auto text = api_->MetricsText({.authorization = req.authorization, .address = req.client});
      if (!text.ok()) return Error(text.status());
      return HttpReply{.status = 200,
                       .body = *std::move(text),
                       .content_type = "text/plain; version=0.0.4; charset=utf-8"};
    }
    auto query = ParseQuery(req.target);
    if (!query) {
      return Error(absl::InvalidArgumentError("the query string has a malformed %-escape"));
    }
    return HandleRequest(api_, router_, req.verb, req.target, req.body, *query,
                         {.authorization = req.authorization, .address = req.client});
  };
  listener_ = std::make_unique<HttpListener>(limits_, admit, handle);
  return listener_->Start(listen, tls);
}

int RestServer::port() const { return listener_ ? listener_->port() : 0; }

void RestServer::Stop() {
  // Destroyed, not only stopped: the io_context then drops the sessions it still holds and their
  // sockets close now, rather than after Server::Shutdown's wait for running operations.
  listener_.reset();
}

}  // namespace mdb::api::rest
