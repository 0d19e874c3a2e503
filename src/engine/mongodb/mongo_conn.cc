#include "engine/mongodb/mongo_conn.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

// libmongoc's own way to open a connection (a buffered TCP or TLS stream): exported by the
// library, declared only in its private headers.
extern "C" mongoc_stream_t* mongoc_client_default_stream_initiator(const mongoc_uri_t* uri,
                                                                   const mongoc_host_list_t* host,
                                                                   void* user_data,
                                                                   bson_error_t* error);

namespace mdb::engine::mongodb {
namespace {

// libmongoc must be initialised once per process before any client exists; it is never cleaned
// up, because clients may live until exit.
void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    // libmongoc prints its debug lines on stdout ("Using custom stream initiator." for every
    // client, see ReplyGuard): only warnings and worse go on, to stderr as before.
    mongoc_log_set_handler(
        [](mongoc_log_level_t level, const char* domain, const char* message, void* data) {
          if (level <= MONGOC_LOG_LEVEL_WARNING) {
            mongoc_log_default_handler(level, domain, message, data);
          }
        },
        nullptr);
  });
}

absl::StatusCode CodeOf(const bson_error_t& e) {
  // Server errors that mean "you asked for something this server cannot do" are not transient.
  if (e.domain == MONGOC_ERROR_SERVER || e.domain == MONGOC_ERROR_WRITE_CONCERN) {
    if (e.code == 13 || e.code == 18) return absl::StatusCode::kPermissionDenied;  // auth
    if (e.code == 59 || e.code == 115) return absl::StatusCode::kUnimplemented;    // no command
    if (e.code == 48) return absl::StatusCode::kAlreadyExists;  // NamespaceExists
    if (e.code == 26) return absl::StatusCode::kNotFound;       // NamespaceNotFound
    return absl::StatusCode::kFailedPrecondition;
  }
  if (e.domain == MONGOC_ERROR_CLIENT && e.code == MONGOC_ERROR_CLIENT_AUTHENTICATE) {
    return absl::StatusCode::kPermissionDenied;
  }
  if (e.domain == MONGOC_ERROR_BSON) return absl::StatusCode::kDataLoss;
  // A reply larger than the server's own limit, a cursor reply without its cursor.
  if (e.domain == MONGOC_ERROR_PROTOCOL && e.code == MONGOC_ERROR_PROTOCOL_INVALID_REPLY) {
    return absl::StatusCode::kDataLoss;
  }
  return absl::StatusCode::kUnavailable;  // streams, server selection: the host is unreachable
}

// Whether `doc` is well formed at every level and nests documents and arrays at most `max_depth`
// deep, walked with a stack of our own: libbson's bson_validate recurses once per level, and a 16
// MiB document can nest a million levels (a stack overflow). MongoDB itself refuses nesting past
// 100 levels.
bool WellFormedWithin(const bson_t* doc, size_t max_depth) {
  std::vector<bson_iter_t> stack(1);
  if (!bson_iter_init(&stack.back(), doc)) return false;
  while (!stack.empty()) {
    if (!bson_iter_next(&stack.back())) {
      if (stack.back().err_off != 0) return false;  // corrupt, not ended
      stack.pop_back();
      continue;
    }
    bson_iter_t& it = stack.back();
    if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
      if (stack.size() >= max_depth) return false;
      bson_iter_t child;
      if (!bson_iter_recurse(&it, &child)) return false;
      stack.push_back(child);
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<Bson> Bson::FromBytes(std::string_view bytes) {
  bson_t view;
  if (bytes.size() < 5 ||
      !bson_init_static(&view, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) {
    return absl::DataLossError("a BSON document is malformed");
  }
  if (!WellFormedWithin(&view, kMaxBsonDepth)) {
    return absl::DataLossError(absl::StrCat("a BSON document is malformed or nested deeper than ",
                                            kMaxBsonDepth, " levels"));
  }
  if (!bson_validate(&view, BSON_VALIDATE_NONE, nullptr)) {
    return absl::DataLossError("a BSON document is malformed");
  }
  // A byte copy: bson_copy_to_excluding aborts the process on keys it cannot append again.
  return Bson(&view);
}

absl::StatusOr<Bson> Bson::FromJson(const std::string& json) {
  bson_error_t error;
  bson_t* doc = bson_new_from_json(reinterpret_cast<const uint8_t*>(json.data()),
                                   static_cast<ssize_t>(json.size()), &error);
  if (!doc) return absl::InvalidArgumentError(absl::StrCat("bad JSON: ", error.message));
  Bson out(doc);
  bson_destroy(doc);
  return out;
}

std::string Bson::Json() const {
  size_t len = 0;
  char* s = bson_as_canonical_extended_json(&doc_, &len);
  std::string out(s ? s : "", len);
  bson_free(s);
  return out;
}

MongoConn::~MongoConn() { mongoc_client_destroy(client_); }

absl::Status MongoConn::Error(const bson_error_t& error, const std::string& what) const {
  // A reply the guard refused reaches libmongoc as a failed read: say what was wrong with it.
  if (!refused_.empty()) {
    return absl::DataLossError(absl::StrCat("mongodb ", address_, ": ", what, ": ", refused_));
  }
  return absl::Status(CodeOf(error),
                      absl::StrCat("mongodb ", address_, ": ", what, ": ", error.message));
}

absl::StatusOr<Bson> MongoConn::Command(const std::string& db, const bson_t* command) {
  Bson reply;
  bson_error_t error;
  bson_destroy(reply.get());  // run_command initialises the reply itself, even on failure
  bool ok =
      mongoc_client_command_simple(client_, db.c_str(), command, nullptr, reply.get(), &error);
  if (!ok) {
    bson_iter_t it;
    std::string name =
        bson_iter_init(&it, command) && bson_iter_next(&it) ? bson_iter_key(&it) : "command";
    return Error(error, absl::StrCat("'", name, "' on database '", db, "'"));
  }
  return reply;
}

absl::StatusOr<Bson> MongoConn::Command(const std::string& db, const std::string& json) {
  ASSIGN_OR_RETURN(Bson cmd, Bson::FromJson(json));
  return Command(db, cmd.get());
}

namespace {

// A client for exactly this host (directConnection: no topology discovery, even for a replica set
// member) with the host's credentials; the timeouts make a dead host fail the call instead of
// hanging it.
absl::StatusOr<mongoc_client_t*> NewClient(const common::HostConfig& host,
                                           absl::Duration socket_timeout,
                                           absl::Duration connect_timeout) {
  auto opt = [&](const char* key, const char* def) {
    auto it = host.options.find(key);
    return it == host.options.end() ? std::string(def) : it->second;
  };
  const int64_t connect_ms = absl::ToInt64Milliseconds(connect_timeout);
  std::string uri_text = absl::StrCat(
      "mongodb://", host.address, "/?directConnection=true&serverSelectionTimeoutMS=", connect_ms,
      "&connectTimeoutMS=", connect_ms,
      "&socketTimeoutMS=", absl::ToInt64Milliseconds(socket_timeout),
      "&readPreference=secondaryPreferred&appname=mdb-backup");
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(uri_text.c_str(), &error);
  if (!uri) {
    return absl::InvalidArgumentError(
        absl::StrCat("mongodb host '", host.address, "': ", error.message));
  }
  std::string user = opt("user", ""), password = opt("password", "");
  if (std::string file = opt("password_file", ""); !file.empty()) {
    std::ifstream in(file);
    if (!in) {
      mongoc_uri_destroy(uri);
      return absl::FailedPreconditionError(
          absl::StrCat("mongodb ", host.address, ": cannot read password_file '", file, "'"));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    password = std::string(absl::StripTrailingAsciiWhitespace(ss.str()));
  }
  if (!user.empty()) {
    // Set through the API rather than spliced into the URI: no escaping of odd characters.
    mongoc_uri_set_username(uri, user.c_str());
    mongoc_uri_set_password(uri, password.c_str());
    mongoc_uri_set_auth_source(uri, opt("auth_source", "admin").c_str());
  }
  mongoc_client_t* client = mongoc_client_new_from_uri_with_error(uri, &error);
  mongoc_uri_destroy(uri);
  if (!client) {
    return absl::InvalidArgumentError(
        absl::StrCat("mongodb host '", host.address, "': ", error.message));
  }
  mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
  return client;
}

}  // namespace

namespace {

// Every reply is checked whole before libmongoc reads any of it. libmongoc 1.23 (Debian 12)
// trusts the framing of what a server sends: an OP_MSG section longer than its message, or a
// first section that is a document sequence, makes it read and write out of bounds (SIGSEGV); a
// document in a cursor batch shorter than 5 bytes or without its final NUL fails an assertion
// (abort); a server that announces maxMessageSizeBytes of 2 GB and then sends a reply that large
// aborts it in its buffer code; a batch element whose length overruns the batch, or that is not a
// document, ends the cursor early and silently (a backup that succeeds without those documents).

// MongoDB announces (and never exceeds) 48,000,000 bytes per message.
constexpr uint32_t kMaxReplyBytes = 64 << 20;
constexpr int32_t kOpReply = 1;
constexpr int32_t kOpMsg = 2013;

// What is wrong with the BSON document data[0, len) or anything nested in it, walked with a stack
// of our own (bson_validate recurses once per level); "" when nothing is.
std::string BsonProblem(const uint8_t* data, size_t len) {
  std::vector<bson_iter_t> stack(1);
  if (!bson_iter_init_from_data(&stack[0], data, len)) {
    return "a document whose length or last byte is wrong";
  }
  while (!stack.empty()) {
    bson_iter_t* it = &stack.back();
    if (!bson_iter_next(it)) {
      if (it->err_off != 0) {  // libbson's mark of a malformed element, as against the end
        return absl::StrCat("a malformed BSON element ", stack.size(), " levels deep");
      }
      stack.pop_back();
      continue;
    }
    const uint8_t* child = nullptr;
    uint32_t child_len = 0;
    if (BSON_ITER_HOLDS_DOCUMENT(it)) {
      bson_iter_document(it, &child_len, &child);
    } else if (BSON_ITER_HOLDS_ARRAY(it)) {
      bson_iter_array(it, &child_len, &child);
    } else if (BSON_ITER_HOLDS_CODEWSCOPE(it)) {
      bson_iter_codewscope(it, nullptr, &child_len, &child);
    } else {
      continue;
    }
    if (stack.size() >= kMaxBsonDepth) {
      return absl::StrCat("documents nested deeper than ", kMaxBsonDepth, " levels");
    }
    // bson_iter_next checks that a nested document fits in its parent, not its length or end.
    bson_iter_t next;
    if (!child || !bson_iter_init_from_data(&next, child, child_len)) {
      return absl::StrCat("a document ", stack.size() + 1,
                          " levels deep whose length or last byte is wrong");
    }
    stack.push_back(next);  // `it` is not used past this point: push_back may move the stack
  }
  return "";
}

// libmongoc ends a cursor at the first element of a batch that is not a document.
std::string BatchProblem(const uint8_t* body, size_t len) {
  bson_iter_t it, cursor;
  if (!bson_iter_init_from_data(&it, body, len) || !bson_iter_find(&it, "cursor") ||
      !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &cursor)) {
    return "";
  }
  while (bson_iter_next(&cursor)) {
    const char* key = bson_iter_key(&cursor);
    if (!BSON_ITER_HOLDS_ARRAY(&cursor) ||
        (strcmp(key, "firstBatch") != 0 && strcmp(key, "nextBatch") != 0)) {
      continue;
    }
    bson_iter_t batch;
    if (!bson_iter_recurse(&cursor, &batch)) continue;
    while (bson_iter_next(&batch)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&batch)) {
        return absl::StrCat("a cursor batch holding something other than a document (at '",
                            bson_iter_key(&batch), "')");
      }
    }
  }
  return "";
}

// What is wrong with one whole message `m` (16-byte header included) from a server; "" when
// nothing is.
std::string ReplyProblem(const std::string& m) {
  const auto* p = reinterpret_cast<const uint8_t*>(m.data());
  const size_t len = m.size();
  int32_t opcode;
  memcpy(&opcode, p + 12, 4);
  if (opcode == kOpReply) {  // the handshake's answer: flags, cursor id, start, count, documents
    size_t pos = 36;
    if (len < pos + 5) return "an OP_REPLY without a document";
    while (pos < len) {
      uint32_t size = 0;
      if (len - pos >= 4) memcpy(&size, p + pos, 4);
      if (size < 5 || size > len - pos) {
        return absl::StrCat("an OP_REPLY document declaring ", size, " bytes where ", len - pos,
                            " remain");
      }
      if (std::string why = BsonProblem(p + pos, size); !why.empty()) return why;
      pos += size;
    }
    return "";
  }
  if (opcode != kOpMsg) {
    return absl::StrCat("a message of opcode ", opcode, " (only OP_MSG and OP_REPLY answer)");
  }
  if (len < 21) return "an OP_MSG without a section";
  uint32_t flags;
  memcpy(&flags, p + 16, 4);
  // libmongoc would read a checksum as one more section; it never asks for one.
  if (flags & 1) return "an OP_MSG with a checksum, which was not asked for";
  size_t pos = 20;
  for (int section = 0; pos < len; ++section) {
    // libmongoc has room for two sections and takes the first as the reply's body.
    if (section == 2) return "an OP_MSG with more than two sections";
    const uint8_t kind = p[pos];
    uint32_t size = 0;
    if (len - pos >= 5) memcpy(&size, p + pos + 1, 4);
    if (size < 5 || size > len - pos - 1) {
      return absl::StrCat("an OP_MSG section declaring ", size, " bytes where ", len - pos - 1,
                          " remain");
    }
    const uint8_t* data = p + pos + 1;
    if (kind == 0) {
      if (std::string why = BsonProblem(data, size); !why.empty()) return why;
      if (section == 0) {
        if (std::string why = BatchProblem(data, size); !why.empty()) return why;
      }
    } else if (kind != 1 || section == 0) {
      return absl::StrCat("an OP_MSG whose section ", section + 1, " is of kind ",
                          static_cast<int>(kind));
    } else if (!memchr(data + 4, 0, size - 4)) {
      return "an OP_MSG document sequence without its identifier";
    }
    pos += 1 + size;
  }
  return "";
}

// A stream over libmongoc's own that reads each reply whole into a buffer of its own, checks it
// (ReplyProblem), and only then hands it out. A refused reply fails the read (libmongoc closes
// the connection) and its reason goes to `refused`, the MongoConn's, for its error messages.
class ReplyGuard {
 public:
  static mongoc_stream_t* Wrap(mongoc_stream_t* base, std::string* refused) {
    auto* s = new Stream{};
    s->guard = new ReplyGuard(base, refused);
    mongoc_stream_t& v = s->vtable;
    v.type = 0;  // none of libmongoc's own: it polls the root (socket) stream, not this one
    v.destroy = [](mongoc_stream_t* st) { Free(st, false); };
    v.failed = [](mongoc_stream_t* st) { Free(st, true); };
    v.close = [](mongoc_stream_t* st) { return mongoc_stream_close(Of(st)->base_); };
    v.flush = [](mongoc_stream_t* st) { return mongoc_stream_flush(Of(st)->base_); };
    v.writev = [](mongoc_stream_t* st, mongoc_iovec_t* iov, size_t iovcnt, int32_t timeout_msec) {
      return mongoc_stream_writev(Of(st)->base_, iov, iovcnt, timeout_msec);
    };
    v.readv = [](mongoc_stream_t* st, mongoc_iovec_t* iov, size_t iovcnt, size_t min_bytes,
                 int32_t timeout_msec) {
      return Of(st)->Readv(iov, iovcnt, /*blocking=*/min_bytes > 0, timeout_msec);
    };
    v.setsockopt = [](mongoc_stream_t* st, int level, int optname, void* optval,
                      mongoc_socklen_t optlen) {
      return mongoc_stream_setsockopt(Of(st)->base_, level, optname, optval, optlen);
    };
    v.get_base_stream = [](mongoc_stream_t* st) { return Of(st)->base_; };
    v.check_closed = [](mongoc_stream_t* st) { return mongoc_stream_check_closed(Of(st)->base_); };
    v.timed_out = [](mongoc_stream_t* st) { return mongoc_stream_timed_out(Of(st)->base_); };
    // Whether a failed read only would have blocked (a non-blocking read of the handshake).
    v.should_retry = [](mongoc_stream_t* st) { return !Of(st)->failed_ && Of(st)->retry_; };
    return &s->vtable;
  }

 private:
  struct Stream {  // what libmongoc holds: its function table first, as in its own streams
    mongoc_stream_t vtable;
    ReplyGuard* guard;
  };

  ReplyGuard(mongoc_stream_t* base, std::string* refused) : base_(base), refused_(refused) {}
  static ReplyGuard* Of(mongoc_stream_t* s) { return reinterpret_cast<Stream*>(s)->guard; }

  static void Free(mongoc_stream_t* s, bool failed) {
    auto* stream = reinterpret_cast<Stream*>(s);
    if (failed) {
      mongoc_stream_failed(stream->guard->base_);
    } else {
      mongoc_stream_destroy(stream->guard->base_);
    }
    delete stream->guard;
    delete stream;
  }

  ssize_t Readv(mongoc_iovec_t* iov, size_t iovcnt, bool blocking, int32_t timeout_msec) {
    if (!whole_ && !Fill(blocking, timeout_msec)) {
      if (failed_) errno = EPROTO;
      return -1;  // otherwise errno is the base stream's
    }
    ssize_t n = 0;
    for (size_t i = 0; i < iovcnt && handed_ < msg_.size(); ++i) {
      size_t k = std::min(iov[i].iov_len, msg_.size() - handed_);
      memcpy(iov[i].iov_base, msg_.data() + handed_, k);
      handed_ += k;
      n += static_cast<ssize_t>(k);
    }
    if (handed_ == msg_.size()) {  // all given: the next read starts the next reply
      whole_ = false;
      have_ = handed_ = 0;
      if (msg_.capacity() > (1 << 20)) {
        std::string().swap(msg_);  // a large reply's buffer is not kept for the small ones
      } else {
        msg_.clear();
      }
    }
    return n;
  }

  // Reads until msg_ is one whole, checked reply. False when a read failed or (not blocking)
  // would block, or when the reply is refused.
  bool Fill(bool blocking, int32_t timeout_msec) {
    if (failed_) return false;
    for (;;) {
      if (msg_.size() < 4) msg_.resize(4);
      if (have_ == 4 && msg_.size() == 4) {  // the length, refused before anything is allocated
        uint32_t len;
        memcpy(&len, msg_.data(), 4);
        if (len < 16 || len > kMaxReplyBytes) {
          return Refuse(absl::StrCat("a message declaring ", len, " bytes (more than ",
                                     kMaxReplyBytes, " are never read)"));
        }
        msg_.resize(len);
      }
      if (have_ == msg_.size() && have_ >= 16) {
        if (std::string why = ReplyProblem(msg_); !why.empty()) return Refuse(why);
        whole_ = true;
        retry_ = false;
        return true;
      }
      const size_t want = msg_.size() - have_;
      ssize_t got =
          mongoc_stream_read(base_, msg_.data() + have_, want, blocking ? want : 0, timeout_msec);
      if (got <= 0) {
        retry_ = mongoc_stream_should_retry(base_);
        return false;
      }
      have_ += static_cast<size_t>(got);
    }
  }

  bool Refuse(const std::string& why) {
    failed_ = true;
    retry_ = false;
    *refused_ = absl::StrCat("reply refused: ", why);
    return false;
  }

  mongoc_stream_t* base_;
  std::string* refused_;
  std::string msg_;      // the reply being read; nothing of it is handed out before it is whole
  size_t have_ = 0;      // bytes of msg_ read from base_
  size_t handed_ = 0;    // bytes of msg_ given to libmongoc
  bool whole_ = false;   // msg_ is a whole reply that passed the checks
  bool failed_ = false;  // a reply was refused: the connection is done
  bool retry_ = false;   // the last failed read of base_ only would have blocked
};

}  // namespace

MongoConn::MongoConn(mongoc_client_t* client, std::string address)
    : client_(client), address_(std::move(address)) {
  mongoc_client_set_stream_initiator(client_, &MongoConn::OpenGuarded, this);
}

mongoc_stream_t* MongoConn::OpenGuarded(const mongoc_uri_t* uri, const mongoc_host_list_t* host,
                                        void* self, bson_error_t* error) {
  auto* conn = static_cast<MongoConn*>(self);
  // libmongoc's default reads the client's TLS options from the client it is given.
  mongoc_stream_t* base = mongoc_client_default_stream_initiator(uri, host, conn->client_, error);
  return base ? ReplyGuard::Wrap(base, &conn->refused_) : nullptr;
}

absl::StatusOr<std::unique_ptr<MongoConn>> ConnectHost(const common::HostConfig& host,
                                                       absl::Duration socket_timeout,
                                                       const std::atomic<bool>* cancelled) {
  InitOnce();
  if (cancelled) {
    // libmongoc's calls cannot be interrupted: probe with 1 s timeouts, seeing a cancel between
    // tries, for as long as the real client's own timeouts would wait.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (;;) {
      if (cancelled->load()) {
        return absl::CancelledError(
            absl::StrCat("cancelled while connecting to mongodb ", host.address));
      }
      ASSIGN_OR_RETURN(mongoc_client_t * client,
                       NewClient(host, absl::Seconds(1), absl::Seconds(1)));
      std::unique_ptr<MongoConn> probe(new MongoConn(client, host.address));
      absl::Status pinged = probe->Command("admin", "{\"ping\": 1}").status();
      if (pinged.ok()) break;
      // A refused reply will not get better by asking again.
      if (absl::Now() >= deadline || absl::IsDataLoss(pinged)) return pinged;
    }
  }
  ASSIGN_OR_RETURN(mongoc_client_t * client, NewClient(host, socket_timeout, absl::Seconds(10)));
  std::unique_ptr<MongoConn> conn(new MongoConn(client, host.address));
  RETURN_IF_ERROR(conn->Command("admin", "{\"ping\": 1}").status());
  return conn;
}

absl::StatusOr<ServerInfo> Describe(MongoConn* conn) {
  ServerInfo info;
  ASSIGN_OR_RETURN(Bson hello, conn->Command("admin", "{\"hello\": 1}"));
  bson_iter_t it;
  if (bson_iter_init_find(&it, hello.get(), "isWritablePrimary") && BSON_ITER_HOLDS_BOOL(&it)) {
    info.primary = bson_iter_bool(&it);
  }
  if (bson_iter_init_find(&it, hello.get(), "secondary") && BSON_ITER_HOLDS_BOOL(&it)) {
    info.secondary = bson_iter_bool(&it);
  }
  if (bson_iter_init_find(&it, hello.get(), "setName") && BSON_ITER_HOLDS_UTF8(&it)) {
    info.set_name = bson_iter_utf8(&it, nullptr);
  }
  ASSIGN_OR_RETURN(Bson build, conn->Command("admin", "{\"buildInfo\": 1}"));
  if (bson_iter_init_find(&it, build.get(), "version") && BSON_ITER_HOLDS_UTF8(&it)) {
    info.version = bson_iter_utf8(&it, nullptr);
  }
  return info;
}

absl::StatusOr<std::vector<std::string>> UserDatabases(MongoConn* conn) {
  ASSIGN_OR_RETURN(Bson reply,
                   conn->Command("admin", "{\"listDatabases\": 1, \"nameOnly\": true}"));
  std::vector<std::string> out;
  bson_iter_t it, dbs;
  if (!bson_iter_init_find(&it, reply.get(), "databases") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &dbs)) {
    return absl::DataLossError(
        absl::StrCat("mongodb ", conn->address(), ": listDatabases answered without 'databases'"));
  }
  while (bson_iter_next(&dbs)) {
    bson_iter_t db;
    if (!BSON_ITER_HOLDS_DOCUMENT(&dbs) || !bson_iter_recurse(&dbs, &db) ||
        !bson_iter_find(&db, "name") || !BSON_ITER_HOLDS_UTF8(&db)) {
      continue;
    }
    std::string name = bson_iter_utf8(&db, nullptr);
    // admin holds users and roles (not backed up yet), local the oplog, config sharding state.
    if (name == "admin" || name == "local" || name == "config") continue;
    out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace mdb::engine::mongodb
