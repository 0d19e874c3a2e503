// AWS STS AssumeRoleWithWebIdentity: exchanges an OIDC token (a Kubernetes service account's,
// say) for temporary credentials of a role. The request is not signed: the token is the proof.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/s3/credentials.h"

namespace mdb::storage::s3 {

struct WebIdentityRequest {
  std::string endpoint;      // "https://sts.us-east-1.amazonaws.com"
  std::string role_arn;      // AWS_ROLE_ARN
  std::string token_file;    // AWS_WEB_IDENTITY_TOKEN_FILE; read at every exchange (it rotates)
  std::string session_name;  // AWS_ROLE_SESSION_NAME
  int duration_seconds = 3600;
  std::string ca_file;
  absl::Duration timeout = absl::Seconds(30);
};

// The form body of the request (x-www-form-urlencoded).
std::string WebIdentityForm(const WebIdentityRequest& req, std::string_view token);

// The credentials of an AssumeRoleWithWebIdentity (or AssumeRole) reply, or the error it carries.
// The message quotes STS's code and message, never the reply's secrets.
absl::StatusOr<Credentials> ParseStsReply(long http_status, std::string_view body);

// One exchange, with a few retries of transport errors and 5xx answers.
absl::StatusOr<Credentials> AssumeRoleWithWebIdentity(const WebIdentityRequest& req);

}  // namespace mdb::storage::s3
