#include "engine/mongodb/mongo_conn.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/host_options.h"
#include "common/status.h"
#include "engine/mongodb/mongo_util.h"
#include "engine/mongodb/reply_guard.h"

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
    // No shared-memory counters (they are for the mongoc-stat tool): each process would leave
    // /dev/shm/mongoc-<pid> behind, and a later process given the same pid then prints "Falling
    // back to malloc for counters" on stderr from mongoc_init, outside our log's format.
    setenv("MONGOC_DISABLE_SHM", "1", /*overwrite=*/0);
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

}  // namespace

absl::StatusOr<Bson> Bson::FromBytes(std::string_view bytes) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  bson_t view;
  if (bytes.size() < 5 || !bson_init_static(&view, data, bytes.size())) {
    return absl::DataLossError("a BSON document is malformed");
  }
  // Walked without recursion first: libbson's bson_validate recurses once per level, and a
  // 16 MiB document can nest a million levels (a stack overflow).
  if (std::string problem = BsonProblem(data, bytes.size()); !problem.empty()) {
    return absl::DataLossError(absl::StrCat("a BSON document is refused: ", problem));
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
  std::string user = opt("user", "");
  auto password_or = common::HostPassword(host);
  if (!password_or.ok()) {
    mongoc_uri_destroy(uri);
    return password_or.status();
  }
  std::string password = *std::move(password_or);
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

MongoConn::MongoConn(mongoc_client_t* client, std::string address)
    : client_(client), address_(std::move(address)) {
  mongoc_client_set_stream_initiator(client_, &MongoConn::OpenGuarded, this);
}

mongoc_stream_t* MongoConn::OpenGuarded(const mongoc_uri_t* uri, const mongoc_host_list_t* host,
                                        void* self, bson_error_t* error) {
  auto* conn = static_cast<MongoConn*>(self);
  // libmongoc's default reads the client's TLS options from the client it is given.
  mongoc_stream_t* base = mongoc_client_default_stream_initiator(uri, host, conn->client_, error);
  return base ? WrapInReplyGuard(base, &conn->refused_) : nullptr;
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
      // A refused reply will not get better by asking again. A refused connection may: a
      // mongod restarting, a name not resolving yet, a server at its connection limit.
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
  info.router = GetString(hello.get(), "msg") == "isdbgrid";
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
