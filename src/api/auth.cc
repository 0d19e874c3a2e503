#include "api/auth.h"

#include <arpa/inet.h>
#include <sodium.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace mdb::api {
namespace {

std::array<unsigned char, 32> Sha256(std::string_view s) {
  std::array<unsigned char, 32> out;
  crypto_hash_sha256(out.data(), reinterpret_cast<const unsigned char*>(s.data()), s.size());
  return out;
}

}  // namespace

std::string ClientKey(std::string_view address) {
  std::string a(address);
  in6_addr v6;
  if (inet_pton(AF_INET6, a.c_str(), &v6) != 1) return a;
  char text[INET6_ADDRSTRLEN];
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    return inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof(text)) ? text : a;
  }
  for (int i = 8; i < 16; ++i) v6.s6_addr[i] = 0;  // the /64
  return inet_ntop(AF_INET6, &v6, text, sizeof(text)) ? std::string(text) + "/64" : a;
}

Authenticator::Authenticator(const common::Config& config) {
  for (const auto& t : config.tokens) {
    Digest d{};
    if (!t.token.empty()) {
      d = Sha256(t.token);
    } else {
      std::string raw = absl::HexStringToBytes(t.token_sha256);  // checked by the config parser
      std::copy_n(raw.begin(), std::min(raw.size(), d.size()), d.begin());
    }
    tokens_.emplace_back(d, &t);
  }
}

absl::StatusOr<Principal> Authenticator::Authenticate(std::string_view authorization,
                                                      bool* guessed) const {
  if (guessed) *guessed = false;
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "authentication required: send the header 'authorization: Bearer <token>'");
  }
  absl::string_view value(authorization.data(), authorization.size());
  if (!absl::StartsWithIgnoreCase(value, "Bearer ")) {
    return absl::UnauthenticatedError(
        "unsupported authorization scheme: use 'authorization: Bearer <token>'");
  }
  absl::string_view token = absl::StripAsciiWhitespace(value.substr(7));
  if (guessed) *guessed = true;
  // Tokens are printable (the config refuses others): a NUL or another control character would
  // otherwise be a way to present a prefix of a token to code that stops at it.
  for (unsigned char c : token) {
    if (c < 0x20 || c == 0x7f) {
      return absl::UnauthenticatedError("the token is not valid: it holds control characters");
    }
  }
  Digest presented = Sha256(std::string_view(token.data(), token.size()));
  const common::TokenConfig* found = nullptr;
  for (const auto& [digest, config] : tokens_) {  // every entry, whatever matched before
    if (sodium_memcmp(digest.data(), presented.data(), digest.size()) == 0) found = config;
  }
  if (!found) {
    return absl::UnauthenticatedError("the token is not valid: it is not declared in the config");
  }
  if (guessed) *guessed = false;
  return Principal(found);
}

void FailedAuthThrottle::set_options(Options options) {
  std::lock_guard<std::mutex> lock(mu_);
  options_ = options;
}

double FailedAuthThrottle::Level(const Bucket& b, absl::Time now) const {
  double refilled =
      std::max(0.0, absl::ToDoubleSeconds(now - b.updated)) * options_.per_minute / 60.0;
  return std::min<double>(options_.burst, b.tokens + refilled);
}

absl::Status FailedAuthThrottle::Check(std::string_view client, absl::Time now) {
  if (client.empty()) return absl::OkStatus();
  std::string address = ClientKey(client);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(address);
  double level = it == buckets_.end() ? options_.burst : Level(it->second, now);
  if (level >= 1) return absl::OkStatus();
  double wait = (1 - level) * 60.0 / options_.per_minute;
  return absl::ResourceExhaustedError(absl::StrCat("too many wrong tokens from ", address,
                                                   "; retry in ", static_cast<int>(std::ceil(wait)),
                                                   " s"));
}

void FailedAuthThrottle::Failed(std::string_view client, absl::Time now) {
  if (client.empty()) return;
  std::string address = ClientKey(client);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(address);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_addresses) {
      // Forget the buckets that refilled (they mean nothing), else the stalest one.
      for (auto i = buckets_.begin(); i != buckets_.end();) {
        i = Level(i->second, now) >= options_.burst ? buckets_.erase(i) : std::next(i);
      }
      if (buckets_.size() >= options_.max_addresses) {
        buckets_.erase(std::min_element(
            buckets_.begin(), buckets_.end(),
            [](const auto& a, const auto& b) { return a.second.updated < b.second.updated; }));
      }
    }
    it = buckets_.emplace(address, Bucket{double(options_.burst), now}).first;
  }
  it->second.tokens = std::max(0.0, Level(it->second, now) - 1);
  it->second.updated = now;
}

}  // namespace mdb::api
