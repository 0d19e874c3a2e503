// Tokens are compared through a map lookup; the map holds only configured tokens, so the time
// taken reveals nothing about a guess beyond its absence.
#include "api/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace mdb::api {

Authenticator::Authenticator(const common::Config& config) {
  for (const auto& t : config.tokens) by_token_[t.token] = &t;
}

absl::StatusOr<Principal> Authenticator::Authenticate(std::string_view authorization) const {
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
  auto it = by_token_.find(std::string_view(token.data(), token.size()));
  if (it == by_token_.end()) {
    return absl::UnauthenticatedError("the token is not valid: it is not declared in the config");
  }
  return Principal(it->second);
}

}  // namespace mdb::api
