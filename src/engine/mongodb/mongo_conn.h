// Connecting to a configured MongoDB host with libmongoc, and the few helpers backup and restore
// share: commands whose errors name the host, owned BSON values, and the timestamp type.
#pragma once

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace mdb::engine::mongodb {

// An owned bson_t (libbson's values are C structs that must be destroyed exactly once).
// Documents nested deeper are refused before anything recursive reads them (MongoDB: 100).
inline constexpr size_t kMaxBsonDepth = 200;

class Bson {
 public:
  Bson() { bson_init(&doc_); }
  explicit Bson(const bson_t* src) { bson_copy_to(src, &doc_); }
  // Parses BSON bytes; the result is empty when they are not one valid document.
  static absl::StatusOr<Bson> FromBytes(std::string_view bytes);
  static absl::StatusOr<Bson> FromJson(const std::string& json);
  Bson(const Bson& o) : Bson(&o.doc_) {}
  Bson& operator=(const Bson& o) {
    if (this != &o) {
      bson_destroy(&doc_);
      bson_copy_to(&o.doc_, &doc_);
    }
    return *this;
  }
  Bson(Bson&& o) noexcept : Bson(&o.doc_) {}
  ~Bson() { bson_destroy(&doc_); }

  bson_t* get() { return &doc_; }
  const bson_t* get() const { return &doc_; }
  std::string_view bytes() const {
    return {reinterpret_cast<const char*>(bson_get_data(&doc_)), doc_.len};
  }
  std::string Json() const;  // canonical extended JSON, for messages and tests

 private:
  bson_t doc_;
};

// A MongoDB timestamp (the oplog's `ts`) as one ordered number: seconds << 32 | increment.
inline uint64_t PackTs(uint32_t t, uint32_t i) { return (static_cast<uint64_t>(t) << 32) | i; }

class MongoConn {
 public:
  MongoConn(const MongoConn&) = delete;  // libmongoc holds `this` (the guard's initiator)
  MongoConn& operator=(const MongoConn&) = delete;
  ~MongoConn();
  // Runs `command` on database `db` and returns the reply; errors name the host and command.
  absl::StatusOr<Bson> Command(const std::string& db, const bson_t* command);
  absl::StatusOr<Bson> Command(const std::string& db, const std::string& json);
  mongoc_client_t* client() { return client_; }
  const std::string& address() const { return address_; }
  // Maps a libmongoc error to a status naming this host and what was being done.
  absl::Status Error(const bson_error_t& error, const std::string& what) const;

 private:
  friend absl::StatusOr<std::unique_ptr<MongoConn>> ConnectHost(const common::HostConfig&,
                                                                absl::Duration,
                                                                const std::atomic<bool>*);
  // Every connection the client opens reads its replies through a guard that checks each one
  // whole before libmongoc parses it (reply_guard.h says why).
  MongoConn(mongoc_client_t* client, std::string address);
  static mongoc_stream_t* OpenGuarded(const mongoc_uri_t* uri, const mongoc_host_list_t* host,
                                      void* self, bson_error_t* error);
  mongoc_client_t* client_;
  std::string address_;
  std::string refused_;  // why the guard refused a reply from this server; "" if it never did
};

// Connects directly to one host (no topology discovery, reads allowed on a secondary) with the
// host's options: `user`, `password` or `password_file`, `auth_source` (default admin). The
// connection is checked with a `ping`. A reply slower than `socket_timeout` fails the call (zero:
// wait as long as the server works).
// With `cancelled`, the server is first probed with 1 s timeouts, once a second for up to 10 s,
// so that a cancel is seen while a server accepts connections but does not answer (libmongoc's
// calls themselves cannot be interrupted).
absl::StatusOr<std::unique_ptr<MongoConn>> ConnectHost(
    const common::HostConfig& host, absl::Duration socket_timeout = absl::Minutes(5),
    const std::atomic<bool>* cancelled = nullptr);

// What `hello` tells about a server.
struct ServerInfo {
  bool primary = false;
  bool secondary = false;
  std::string set_name;  // replica set, "" for a standalone server
  std::string version;   // buildInfo.version
  bool router = false;   // a mongos (hello's msg: "isdbgrid")
};
absl::StatusOr<ServerInfo> Describe(MongoConn* conn);

// Non-system databases of the server, sorted.
absl::StatusOr<std::vector<std::string>> UserDatabases(MongoConn* conn);

}  // namespace mdb::engine::mongodb
