// Where the S3 driver's credentials come from, in the order AWS SDKs look: explicit options, the
// environment (with AWS_SESSION_TOKEN), a web-identity token exchanged at STS (what Kubernetes
// service accounts and other OIDC issuers provide), then the shared credentials and config
// files. The instance and container metadata services are not asked: nothing here can serve
// them to test against, and a repository that silently picks up a host's role is a surprise.
// Temporary credentials are refreshed before they expire.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mdb::storage::s3 {

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // temporary credentials only; sent as x-amz-security-token
  absl::Time expiration = absl::InfiniteFuture();
};

// What the client asks for before signing each request. Thread-safe.
class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  virtual absl::StatusOr<Credentials> Get() = 0;
  // The store refused `used` as expired (ExpiredToken): the next Get fetches new ones, unless
  // they were replaced already (several requests hit by the same expiry refresh once).
  virtual void Invalidate(const Credentials& used) {}
  // Where the credentials come from, for messages. Never a secret.
  virtual std::string Describe() const = 0;
};

std::shared_ptr<CredentialsProvider> FixedCredentials(Credentials c, std::string source);

// Temporary credentials from `fetch`, kept until shortly before they expire: 5 minutes before,
// or at half their lifetime when that is shorter (and never sooner than 10 s after the fetch,
// so that a skewed clock cannot make every request ask STS). One caller fetches at a time,
// outside the lock; meanwhile the others go on with the old credentials while those are valid.
// A failed refresh keeps the old ones too, and is tried again 30 s later, not at every request.
class RefreshingCredentials final : public CredentialsProvider {
 public:
  using Fetch = std::function<absl::StatusOr<Credentials>()>;
  using Clock = std::function<absl::Time()>;
  RefreshingCredentials(std::string source, Fetch fetch, Clock clock = absl::Now);

  absl::StatusOr<Credentials> Get() override;
  void Invalidate(const Credentials& used) override;
  std::string Describe() const override { return source_; }

 private:
  const std::string source_;
  const Fetch fetch_;
  const Clock clock_;
  std::mutex mu_;
  std::condition_variable fetched_;
  std::optional<Credentials> current_;  // guarded by mu_
  absl::Time refresh_at_;               // guarded by mu_
  // The expiration, but at least 10 s after the fetch: with a skewed clock credentials may
  // look expired on arrival, and the store, not our clock, decides.
  absl::Time usable_until_;  // guarded by mu_
  bool fetching_ = false;    // guarded by mu_
};

// What the chain reads. Tests replace the environment; the rest comes from the repository URL.
struct CredentialsSource {
  std::string profile;       // "" = AWS_PROFILE, else "default"
  std::string region;        // for STS's regional endpoint
  std::string sts_endpoint;  // "" = AWS_ENDPOINT_URL_STS, else https://sts.REGION.amazonaws.com
  std::string ca_file;       // for STS over TLS with a private CA, as for the store
  absl::Duration timeout = absl::Seconds(30);
  std::function<std::string(const std::string&)> getenv;  // default: the process environment
};

// The first place of the chain that has credentials; NotFound naming every place looked at.
absl::StatusOr<std::shared_ptr<CredentialsProvider>> DefaultCredentials(
    const CredentialsSource& source);

// A profile's static keys from the text of the shared credentials file (sections "[name]") or
// of the config file ("[profile name]", and "[default]"). nullopt when the profile or its keys
// are missing.
std::optional<Credentials> ProfileKeys(const std::string& ini, const std::string& profile,
                                       bool config_file);

}  // namespace mdb::storage::s3
