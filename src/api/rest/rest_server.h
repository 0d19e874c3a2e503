// REST transport: HTTP/1.1 + JSON over the same Api as gRPC. Requests are built from path
// parameters, query parameters and the JSON body as the google.api.http rules say; responses and
// errors use the proto3 JSON mapping (lowerCamelCase, int64 as strings, RFC 3339 times).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "api/api.h"
#include "api/rest/http_listener.h"
#include "api/rest/router.h"

namespace mdb::api::rest {

// Converts one HTTP request to a response; split from the server so tests can drive it directly.
using HttpResult = HttpReply;
HttpResult HandleRequest(Api* api, const Router& router, const std::string& verb,
                         const std::string& target, const std::string& body,
                         const std::multimap<std::string, std::string>& query,
                         const Caller& caller);

class RestServer {
 public:
  RestServer(Api* api, Router router, HttpLimits limits = {});
  ~RestServer();

  // Binds `listen` ("host:port"; port 0 picks one) and serves in the background, over TLS when
  // `tls` is enabled.
  absl::Status Start(const std::string& listen, const common::TlsConfig& tls = {});
  absl::Status ReloadTls(const common::TlsConfig& tls) { return listener_->ReloadTls(tls); }
  int port() const;
  // Closes the listener and every connection it holds (HttpListener::Stop alone leaves open
  // connections unanswered until the listener is destroyed).
  void Stop();

 private:
  // The reply to a GET of `path` when it is one of the public documents (the OpenAPI document,
  // the console's files): served to anyone, no token; nullptr otherwise.
  const HttpReply* PublicDocument(const HttpRequest& req) const;

  Api* api_;
  Router router_;
  HttpLimits limits_;
  std::map<std::string, HttpReply> public_;  // by path
  std::unique_ptr<HttpListener> listener_;
};

}  // namespace mdb::api::rest
