// A small JSON-over-HTTP client for one OpenSearch node (the REST API is all the engine uses).
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace mdb::engine::opensearch {

using Json = nlohmann::json;

// Reads of a reply that never throw (nlohmann's value() throws on a type mismatch, and replies
// come from a server we do not control): the default when `pointer` ("/a/0/b") is missing or
// holds another type.
std::string GetStr(const Json& j, const std::string& pointer, const std::string& def = "");
int64_t GetInt(const Json& j, const std::string& pointer, int64_t def = 0);
// The node at `pointer`, or null when there is none.
Json GetNode(const Json& j, const std::string& pointer);

// A reply body as JSON: null when it is empty, not JSON, nested deeper than 64 levels (real
// replies nest a dozen deep; nlohmann's copy and dump recurse, so depth is refused up front) or
// holding more than kMaxReplyValues values (parsed, each costs 16 to 120 bytes: 64 MiB of "{},"
// would take 3.6 GB). When the body is not empty and refused, `*why` (if given) says why.
constexpr int64_t kMaxReplyValues = 1 << 20;
Json ParseReply(const std::string& body, std::string* why = nullptr);

// Snapshots and restores are waited for in one call (wait_for_completion): a day, not the usual
// ten minutes, before the service gives up on the node.
constexpr long kLongCall = 24 * 3600;

struct HttpReply {
  long status = 0;
  Json body;  // null when the body is empty or not JSON
};

// Not thread-safe: one per thread. Host options: `user` and `password` or `password_file` for
// basic authentication, `scheme` (http or https; default http).
class OsClient {
 public:
  static absl::StatusOr<std::unique_ptr<OsClient>> Connect(const common::HostConfig& host);
  ~OsClient();
  // Sends the request and returns the reply whatever its status; Unavailable when no whole reply
  // came, DataLoss when a reply is larger than 64 MiB or a 2xx one has a body ParseReply refuses.
  // `path` starts with "/"; `body` is sent as JSON unless null.
  absl::StatusOr<HttpReply> Call(const std::string& method, const std::string& path,
                                 const Json& body = nullptr, long timeout_seconds = 3600);
  // Call, and a non-2xx status becomes an error with OpenSearch's reason and `what` in it.
  absl::StatusOr<Json> Ok(const std::string& method, const std::string& path,
                          const std::string& what, const Json& body = nullptr,
                          long timeout_seconds = 600);
  const std::string& address() const { return address_; }
  // Calls in progress end with Cancelled within about a second once `cancelled` is set.
  void set_cancel(const std::atomic<bool>* cancelled) { cancelled_ = cancelled; }

 private:
  OsClient(CURL* curl, std::string base, std::string address, std::string userpwd)
      : curl_(curl),
        base_(std::move(base)),
        address_(std::move(address)),
        userpwd_(std::move(userpwd)) {}
  CURL* curl_;
  std::string base_, address_, userpwd_;
  const std::atomic<bool>* cancelled_ = nullptr;
};

}  // namespace mdb::engine::opensearch
