// An HTTP/1.1 listener that slow, idle or hostile clients cannot hold: event-driven (Boost.Beast
// on Asio, two threads for any number of connections, four more for requests that write), with
// deadlines for the headers, the whole request and keep-alive idling, caps on connections per
// listener and per client address, a header size limit, and a body limit enforced while reading. A
// request's headers are shown to `admit` before any byte of its body is read: a refused request is
// answered and its connection closed with the body unread. With TLS, the handshake is part of the
// header deadline, and the certificate can be replaced without dropping connections (ReloadTls).
// Why Beast rather than libmicrohttpd: docs/security.md.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace mdb::api::rest {

struct HttpLimits {
  absl::Duration header_timeout = absl::Seconds(10);  // connect to the end of the headers
  absl::Duration request_timeout =
      absl::Seconds(60);                            // connect (or last response) to the body's end
  absl::Duration idle_timeout = absl::Seconds(30);  // keep-alive: a response to the next headers
  size_t max_header_bytes = 16 << 10;               // answered 431
  size_t max_body_bytes = 4 << 20;                  // answered 413, checked while reading
  int max_connections = 1024;                       // per listener; more are closed at accept
  int max_connections_per_client = 64;              // per client IP address
};

struct HttpRequest {
  std::string verb, target, body;
  std::string authorization;  // the Authorization header
  std::string client;         // the client's IP address
  bool has_body = false;      // from the headers: a length above 0, or chunked
};

// Reads `tls`'s certificate, key (checked to match) and client CA: the error names the file and
// what is wrong with it. mdb-backupd --check and start call it for both listeners' files.
absl::Status CheckTlsFiles(const common::TlsConfig& tls);

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // more, e.g. the console's CSP
};

class HttpListener {
 public:
  // `admit` sees a request's headers (no body yet) and returns a reply to refuse it with (the
  // body is then never read), or a reply of status 0 to go on; `admit` runs on the io threads and
  // must be quick; `handle` too for GET and HEAD (reads), on the handler pool for the others and
  // for the contract's one GET that writes (`...:cancel`).
  using Admit = std::function<HttpReply(const HttpRequest& headers_only)>;
  using Handle = std::function<HttpReply(const HttpRequest&)>;

  HttpListener(HttpLimits limits, Admit admit, Handle handle);
  ~HttpListener();  // stops

  // Binds `listen` ("host:port", port 0 picks one; no SO_REUSEPORT: a second process cannot
  // share the port) and serves in the background, over TLS when `tls` is enabled.
  absl::Status Start(const std::string& listen, const common::TlsConfig& tls = {});
  // Re-reads the TLS files: new connections use them, open ones keep theirs. On error the
  // certificate in use stays and the error names the file.
  absl::Status ReloadTls(const common::TlsConfig& tls);
  int port() const;
  // Stops accepting and serving; connections still open are closed when the listener is
  // destroyed (its io_context then drops their sessions).
  void Stop();

  struct Impl;  // Asio and Beast stay in the .cc file (their headers are slow to compile)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mdb::api::rest
