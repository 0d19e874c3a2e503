// Authentication and folder-level authorization of API calls.
//
// Rules (docs/api.md): every call carries `authorization: Bearer <token>`; a token declared in the
// config may read and write the folders it lists (write implies read). No or unknown token:
// UNAUTHENTICATED. A resource in a folder the token cannot read answers exactly as a missing one
// (NOT_FOUND), so tokens learn nothing about other folders; a readable but not writable folder
// answers PERMISSION_DENIED to a mutation.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace mdb::api {

class Principal {
 public:
  explicit Principal(const common::TokenConfig* token) : token_(token) {}
  const std::string& subject() const { return token_->subject; }
  bool CanRead(const std::string& folder_id) const {
    return token_->all_folders || token_->read_folders.count(folder_id) > 0;
  }
  bool CanWrite(const std::string& folder_id) const {
    return token_->write_folders.count(folder_id) > 0;
  }

 private:
  const common::TokenConfig* token_;  // owned by the Config snapshot the call holds
};

// Immutable after construction; holds no pointer beyond the config it was built from.
class Authenticator {
 public:
  explicit Authenticator(const common::Config& config);
  // `authorization` is the raw header/metadata value. UNAUTHENTICATED with a message that says
  // what is missing or wrong.
  absl::StatusOr<Principal> Authenticate(std::string_view authorization) const;

 private:
  std::map<std::string, const common::TokenConfig*, std::less<>> by_token_;
};

}  // namespace mdb::api
