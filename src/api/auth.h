// Authentication and folder-level authorization of API calls.
//
// Rules (docs/security.md): every call carries `authorization: Bearer <token>`; a token declared
// in the config may read, restore from and write the folders it lists (write implies restore,
// restore implies read). No or unknown token: UNAUTHENTICATED. A resource in a folder the token
// cannot read answers exactly as a missing one (NOT_FOUND), so tokens learn nothing about other
// folders; a readable folder answers PERMISSION_DENIED to what the token may not do there.
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace mdb::api {

class Principal {
 public:
  explicit Principal(const common::TokenConfig* token) : token_(token) {}
  const std::string& subject() const { return token_->subject; }
  bool CanRead(const std::string& folder_id) const {
    return token_->all_folders || token_->read_folders.count(folder_id) > 0;
  }
  bool CanRestore(const std::string& folder_id) const {
    return token_->restore_folders.count(folder_id) > 0;
  }
  bool CanWrite(const std::string& folder_id) const {
    return token_->write_folders.count(folder_id) > 0;
  }
  // `read: ["*"]`: every folder, including the service-wide view /metrics gives.
  bool ReadsEverything() const { return token_->all_folders; }

 private:
  const common::TokenConfig* token_;  // owned by the Config snapshot the call holds
};

// Immutable after construction; holds no pointer beyond the config it was built from.
class Authenticator {
 public:
  explicit Authenticator(const common::Config& config);
  // `authorization` is the raw header/metadata value. UNAUTHENTICATED with a message that says
  // what is missing or wrong; `guessed` (when given) is set when a token was presented and is not
  // one of the config's (what throttling counts), as opposed to a missing or malformed header.
  absl::StatusOr<Principal> Authenticate(std::string_view authorization,
                                         bool* guessed = nullptr) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  // SHA-256 of each token: the config may hold only the digest, and a presented token is hashed
  // and compared with every entry in constant time, so timing tells nothing of how close a
  // guess came (a map lookup would compare byte by byte and stop at the first difference).
  std::vector<std::pair<Digest, const common::TokenConfig*>> tokens_;
};

// The key a client address is counted under (wrong tokens, REST connections): an IPv4 address
// as is (also when it arrives IPv4-mapped, "::ffff:192.0.2.1"), an IPv6 address by its /64 (one
// host usually holds a whole /64: per address, each would bring a fresh budget). Anything else is
// returned unchanged.
std::string ClientKey(std::string_view address);

// Slows down an address that presents wrong tokens: a token bucket per client address (burst,
// then a steady rate). While an address's bucket is empty every call from it is refused with
// RESOURCE_EXHAUSTED before its token is looked at, so guessing gains nothing by going faster;
// other addresses are unaffected, and the wait is bounded by the refill rate. The table is
// bounded too: full buckets are forgotten, and past `max_addresses` the stalest entry goes.
class FailedAuthThrottle {
 public:
  struct Options {
    int burst = 20;
    int per_minute = 60;
    size_t max_addresses = 4096;
  };
  explicit FailedAuthThrottle(Options options) : options_(options) {}
  void set_options(Options options);
  // OK, or RESOURCE_EXHAUSTED saying when to retry, for a call from `address` (empty: unknown,
  // never throttled).
  absl::Status Check(std::string_view address, absl::Time now);
  // Counts a wrong token from `address`.
  void Failed(std::string_view address, absl::Time now);

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  double Level(const Bucket& b, absl::Time now) const;  // refilled up to now

  std::mutex mu_;
  Options options_;
  std::map<std::string, Bucket, std::less<>> buckets_;
};

}  // namespace mdb::api
