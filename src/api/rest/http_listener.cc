#include "api/rest/http_listener.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/auth.h"
#include "api/status_map.h"
#include "common/ids.h"
#include "common/status.h"

namespace mdb::api::rest {
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Threads serving every connection. Two, as cores: more made every request hop between threads
// (bench/api: REST Get 0.8x the empty gRPC call with 2, 1.6-1.9x with 8).
constexpr int kIoThreads = 2;

Clock::time_point After(absl::Duration d) { return Clock::now() + absl::ToChronoNanoseconds(d); }

// google.rpc.Status in the proto3 JSON mapping, escaped, as every other error of the REST API.
std::string ErrorJson(absl::StatusCode code, const std::string& message) {
  return StatusToJson(absl::Status(code, message));
}

using TlsContext = net::ssl::context;

absl::StatusOr<std::shared_ptr<TlsContext>> MakeTlsContext(const common::TlsConfig& tls) {
  auto ctx = std::make_shared<TlsContext>(TlsContext::tls_server);
  // TLS 1.2 and 1.3 only, as current guidance for new services says (RFC 8996 deprecates 1.0/1.1).
  ctx->set_options(TlsContext::default_workarounds | TlsContext::no_sslv2 | TlsContext::no_sslv3 |
                   TlsContext::no_tlsv1 | TlsContext::no_tlsv1_1 | TlsContext::single_dh_use);
  // TLS 1.2 suites with forward secrecy and AEAD only, as gRPC offers (1.3's are all AEAD).
  SSL_CTX_set_cipher_list(ctx->native_handle(),
                          "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!SHA1");
  // Resumed sessions (TLS 1.3 tickets, clients' session caches) need a context id when client
  // certificates are verified: without one OpenSSL fails the resumed handshake.
  static constexpr unsigned char kSessionContext[] = "mdb-backupd";
  SSL_CTX_set_session_id_context(ctx->native_handle(), kSessionContext,
                                 sizeof(kSessionContext) - 1);
  auto failed = [](const char* what, const std::string& file, const beast::error_code& ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use ", what, " '", file, "': ", ec.message()));
  };
  beast::error_code ec;
  ctx->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) return failed("the TLS certificate (server.tls.cert_file)", tls.cert_file, ec);
  ctx->use_private_key_file(tls.key_file, TlsContext::pem, ec);
  if (ec) return failed("the TLS key (server.tls.key_file)", tls.key_file, ec);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("the TLS key '", tls.key_file,
                                                   "' does not belong to the certificate '",
                                                   tls.cert_file, "'"));
  }
  if (!tls.client_ca_file.empty()) {
    ctx->load_verify_file(tls.client_ca_file, ec);
    if (ec) return failed("the client CA (server.tls.client_ca_file)", tls.client_ca_file, ec);
    ctx->set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

}  // namespace

absl::Status CheckTlsFiles(const common::TlsConfig& tls) { return MakeTlsContext(tls).status(); }

struct HttpListener::Impl {
  HttpLimits limits;
  Admit admit;
  Handle handle;
  // Before the io_context: sessions it still holds when destroyed leave through these.
  std::mutex mu;
  int open = 0;
  std::map<std::string, int> per_client;
  net::io_context ioc{kIoThreads};
  std::optional<tcp::acceptor> acceptor;
  net::steady_timer accept_retry{ioc};  // after a failed accept (EMFILE): see Accept()
  // Requests that write (Session::Handle). Queued work is bounded by the connection caps (one
  // request in flight per connection). After ioc: queued handlers hold sessions, whose sockets
  // belong to ioc.
  net::thread_pool handlers{4};
  std::vector<std::thread> threads;
  int port = 0;
  std::shared_ptr<TlsContext> tls;  // under mu; null for plain HTTP. Sessions hold the one
                                    // they started with, so a reload leaves them alone.

  std::shared_ptr<TlsContext> CurrentTls() {
    std::lock_guard<std::mutex> lock(mu);
    return tls;
  }

  // Counts a new connection from `client`; false when a cap is reached (it is then closed).
  bool Enter(const std::string& client) {
    std::lock_guard<std::mutex> lock(mu);
    int& mine = per_client[client];
    if (open >= limits.max_connections || mine >= limits.max_connections_per_client) {
      if (mine == 0) per_client.erase(client);
      return false;
    }
    ++open;
    ++mine;
    return true;
  }
  void Leave(const std::string& client) {
    std::lock_guard<std::mutex> lock(mu);
    --open;
    if (--per_client[client] == 0) per_client.erase(client);
  }
  void Accept();
};

namespace {

// One connection; Stream is beast::tcp_stream, or an ssl_stream over it for TLS.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  Session(tcp::socket socket, std::shared_ptr<TlsContext> tls, HttpListener::Impl* owner,
          std::string client)
      : tls_(std::move(tls)),
        stream_(MakeStream(std::move(socket), tls_.get())),
        owner_(owner),
        client_(std::move(client)),
        // Room for the largest header the parser accepts (it answers 431 past it) and one read.
        // A smaller cap (it was 8 KiB) ends a 9 KiB header with buffer_overflow, answered 400.
        buffer_(owner->limits.max_header_bytes + (64 << 10)) {}
  ~Session() { owner_->Leave(client_); }

  void Start() {
    header_deadline_ = After(owner_->limits.header_timeout);
    request_deadline_ = After(owner_->limits.request_timeout);
    // Onto the session's strand: Start runs on the acceptor's thread, and everything the session
    // does (its timer's handler included) must run on the strand (as Beast's examples do).
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->ReadHeader();
      }
    });
  }

 private:
  static Stream MakeStream(tcp::socket socket, TlsContext* tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      return Stream(std::move(socket));
    }
  }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  // The handshake counts against the header deadline: a client that stalls in it is one that
  // stalls in its headers.
  void Handshake() {
    lowest().expires_at(std::min(header_deadline_, request_deadline_));
    stream_.async_handshake(net::ssl::stream_base::server,
                            [self = this->shared_from_this()](beast::error_code ec) {
                              if (ec) return self->CloseTcp();  // nothing to answer in clear
                              self->ReadHeader();
                            });
  }

  const HttpLimits& limits() const { return owner_->limits; }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits().max_header_bytes));
    // No body limit yet: Beast would check a declared length against it while reading the
    // headers, answering 413 to a request that is refused for its token anyway.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    lowest().expires_at(std::min(header_deadline_, request_deadline_));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return Failed(ec);
    const auto& req = parser_->get();
    request_.verb = std::string(req.method_string());
    request_.target = std::string(req.target());
    request_.authorization = std::string(req[http::field::authorization]);
    if (req.count(http::field::authorization) > 1) {  // which one would count is anyone's guess
      return Reply({.status = 400,
                    .body = ErrorJson(absl::StatusCode::kInvalidArgument,
                                      "the request has more than one Authorization header")},
                   /*close=*/true);
    }
    request_.client = client_;
    request_.body.clear();
    const auto declared = parser_->content_length();
    request_.has_body = parser_->chunked() || (declared && *declared > 0);
    HttpReply refused = owner_->admit(request_);
    if (refused.status != 0) return Reply(std::move(refused), /*close=*/true);
    if (auto length = parser_->content_length(); length && *length > limits().max_body_bytes) {
      return TooLarge();
    }
    parser_->body_limit(limits().max_body_bytes);  // for bodies without a declared length
    lowest().expires_at(request_deadline_);
    // HTTP/1.0 clients know no 100 (RFC 9110 10.1.1: the expectation is then ignored).
    if (req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue")) {
      auto go_on = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *go_on,
                        [self = this->shared_from_this(), go_on](beast::error_code ec, size_t) {
                          if (ec) return self->Failed(ec);
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Failed(ec);
                       self->request_.body = std::move(self->parser_->get().body());
                       self->Handle();
                     });
  }

  // Reads (GET, HEAD) are answered on the io thread: catalog reads in WAL mode do not wait. What
  // writes (starts an operation: a catalog write with fsync, milliseconds or, on a sick disk,
  // much longer) runs on the handler pool, so that it never stops the io threads from reading,
  // answering and closing everyone else's connections. The hop costs a reads' worth of latency
  // (bench/api: a pool for every request took REST Get from 0.8x to 1.4-1.7x the empty gRPC
  // call), nothing next to an fsync. The contract's Cancel is a GET that writes
  // (`/operations/{id}:cancel`): it goes to the pool too.
  void Handle() {
    http::verb verb = parser_->get().method();
    const std::string_view target = request_.target;
    const bool writes = target.substr(0, target.find('?')).ends_with(":cancel");
    if ((verb == http::verb::get || verb == http::verb::head) && !writes) {
      return Reply(owner_->handle(request_), !parser_->get().keep_alive());
    }
    net::post(owner_->handlers, [self = this->shared_from_this()] {
      HttpReply reply = self->owner_->handle(self->request_);
      net::post(self->stream_.get_executor(), [self, reply = std::move(reply)]() mutable {
        self->Reply(std::move(reply), !self->parser_->get().keep_alive());
      });
    });
  }

  void TooLarge() {
    Reply({.status = 413,
           .body = ErrorJson(absl::StatusCode::kResourceExhausted,
                             absl::StrCat("the request body is larger than ",
                                          limits().max_body_bytes, " bytes"))},
          /*close=*/true);
  }

  // A request that cannot go on: answered when there is something to say, then closed.
  void Failed(beast::error_code ec) {
    if (ec == http::error::body_limit) return TooLarge();
    if (ec == http::error::header_limit) {
      return Reply({.status = 431,
                    .body = ErrorJson(absl::StatusCode::kInvalidArgument,
                                      absl::StrCat("the request headers are larger than ",
                                                   limits().max_header_bytes, " bytes"))},
                   /*close=*/true);
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Reply({.status = 400,
                    .body = ErrorJson(absl::StatusCode::kInvalidArgument,
                                      absl::StrCat("malformed HTTP request: ", ec.message()))},
                   /*close=*/true);
    }
    Close();  // a timeout, a reset, an end of stream: nobody to answer
  }

  void Reply(HttpReply reply, bool close) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(reply.status), 11);
    res->set(http::field::content_type, reply.content_type);
    res->set("X-Request-Id", common::NewId());
    res->set("X-Content-Type-Options", "nosniff");  // a reply is only ever what it says it is
    for (const auto& [name, value] : reply.headers) res->set(name, value);
    res->keep_alive(!close);
    res->body() = std::move(reply.body);
    res->prepare_payload();
    // A response to HEAD has a GET's headers and no content (RFC 9110 9.3.2): sent, the body would
    // be read by the client as the start of the next response on the connection.
    if (parser_ && parser_->get().method() == http::verb::head) res->body().clear();
    lowest().expires_after(absl::ToChronoNanoseconds(limits().request_timeout));
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res, close](beast::error_code ec, size_t) {
                        if (ec || close) return self->Close();
                        self->header_deadline_ = After(self->limits().idle_timeout);
                        self->request_deadline_ = After(self->limits().request_timeout);
                        self->ReadHeader();
                      });
  }

  // TLS first says goodbye (close_notify, a second at most), then the TCP connection closes as a
  // plain one does.
  void Close() {
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::seconds(1));
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->CloseTcp(); });
      return;
    }
    CloseTcp();
  }

  // Half-closes and lets the client read the answer: a close with its body still unread would
  // reset the connection and could discard the answer before the client reads it. What it still
  // sends is read and dropped, for a second and 1 MiB at most.
  void CloseTcp() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest().expires_after(std::chrono::seconds(1));
    Drain();
  }
  void Drain() {
    lowest().async_read_some(net::buffer(drain_),
                             [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                               self->drained_ += n;
                               if (ec || self->drained_ > (1 << 20)) {
                                 beast::error_code ignored;
                                 self->lowest().socket().close(ignored);
                                 return;
                               }
                               self->Drain();
                             });
  }

  std::shared_ptr<TlsContext> tls_;  // before stream_, which refers to it
  Stream stream_;
  HttpListener::Impl* owner_;
  std::string client_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;
  Clock::time_point header_deadline_, request_deadline_;
  char drain_[16384];
  size_t drained_ = 0;
};

}  // namespace

void HttpListener::Impl::Accept() {
  acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // stopping
    if (ec) {
      // EMFILE, ENFILE, ENOBUFS: the connection stays queued and accept fails again at once, so
      // an immediate retry spins an io thread until a descriptor frees. Wait a little instead.
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    beast::error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    // Counted as the token throttle counts it: IPv4-mapped as IPv4, IPv6 by its /64.
    std::string client = peer_ec ? "" : ClientKey(peer.address().to_string());
    if (Enter(client)) {
      socket.set_option(tcp::no_delay(true), peer_ec);
      if (auto context = CurrentTls()) {
        std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(std::move(socket), context,
                                                                        this, client)
            ->Start();
      } else {
        std::make_shared<Session<beast::tcp_stream>>(std::move(socket), nullptr, this, client)
            ->Start();
      }
    }  // else: over a cap, closed here
    Accept();
  });
}

HttpListener::HttpListener(HttpLimits limits, Admit admit, Handle handle)
    : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->admit = std::move(admit);
  impl_->handle = std::move(handle);
}

HttpListener::~HttpListener() { Stop(); }

int HttpListener::port() const { return impl_->port; }

absl::Status HttpListener::ReloadTls(const common::TlsConfig& tls) {
  if (!impl_->CurrentTls()) {
    return absl::FailedPreconditionError("the REST listener was started without TLS");
  }
  ASSIGN_OR_RETURN(auto context, MakeTlsContext(tls));
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->tls = std::move(context);
  return absl::OkStatus();
}

absl::Status HttpListener::Start(const std::string& listen, const common::TlsConfig& tls) {
  if (tls.enabled()) {
    ASSIGN_OR_RETURN(impl_->tls, MakeTlsContext(tls));
  }
  size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("invalid REST listen address '", listen, "'"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  beast::error_code ec;
  auto address = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid REST listen address '", listen, "': ", ec.message()));
  }
  tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
  impl_->acceptor.emplace(impl_->ioc);
  impl_->acceptor->open(endpoint.protocol(), ec);
  // SO_REUSEADDR (restart while old connections linger in TIME_WAIT), never SO_REUSEPORT.
  if (!ec) impl_->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(endpoint, ec);
  if (!ec) impl_->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot bind REST on '", listen, "': ", ec.message(),
                                               " (is the port already in use?)"));
  }
  impl_->port = impl_->acceptor->local_endpoint().port();
  impl_->Accept();
  for (int i = 0; i < kIoThreads; ++i) impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  return absl::OkStatus();
}

void HttpListener::Stop() {
  if (impl_->threads.empty()) return;
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->handlers.stop();  // queued requests are dropped; running ones finish
  impl_->handlers.join();
  impl_->acceptor.reset();
}

}  // namespace mdb::api::rest
