#include "storage/s3/credentials.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "storage/s3/sts.h"

namespace mdb::storage::s3 {
namespace {

class Fixed final : public CredentialsProvider {
 public:
  Fixed(Credentials c, std::string source) : c_(std::move(c)), source_(std::move(source)) {}
  absl::StatusOr<Credentials> Get() override { return c_; }
  std::string Describe() const override { return source_; }

 private:
  const Credentials c_;
  const std::string source_;
};

std::string ProcessEnv(const std::string& name) {
  const char* v = getenv(name.c_str());
  return v == nullptr ? "" : v;
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::shared_ptr<CredentialsProvider> FixedCredentials(Credentials c, std::string source) {
  return std::make_shared<Fixed>(std::move(c), std::move(source));
}

RefreshingCredentials::RefreshingCredentials(std::string source, Fetch fetch, Clock clock)
    : source_(std::move(source)), fetch_(std::move(fetch)), clock_(std::move(clock)) {}

absl::StatusOr<Credentials> RefreshingCredentials::Get() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    absl::Time now = clock_();
    bool valid = current_ && now < usable_until_;
    if (valid && now < refresh_at_) return *current_;
    if (!fetching_) break;
    if (valid) return *current_;  // another caller is asking STS; these still work
    fetched_.wait(lock);
  }
  fetching_ = true;
  lock.unlock();
  absl::StatusOr<Credentials> fresh = fetch_();
  lock.lock();
  fetching_ = false;
  fetched_.notify_all();
  absl::Time now = clock_();
  if (!fresh.ok()) {
    refresh_at_ = now + absl::Seconds(30);
    if (current_ && now < usable_until_) {
      common::Log(common::LogLevel::kWarning, "s3",
                  absl::StrCat("refreshing credentials from ", source_, " failed (",
                               fresh.status().message(), "); the current ones expire at ",
                               absl::FormatTime(current_->expiration)));
      return *current_;
    }
    return fresh.status();
  }
  absl::Duration life = fresh->expiration - now;
  refresh_at_ =
      std::max(fresh->expiration - std::min(absl::Minutes(5), life / 2), now + absl::Seconds(10));
  usable_until_ = std::max(fresh->expiration, now + absl::Seconds(10));
  if (life <= absl::ZeroDuration()) {
    common::Log(common::LogLevel::kWarning, "s3",
                absl::StrCat("credentials from ", source_, " expired at ",
                             absl::FormatTime(fresh->expiration),
                             " by this machine's clock; is its time right?"));
  }
  current_ = std::move(*fresh);
  return *current_;
}

void RefreshingCredentials::Invalidate(const Credentials& used) {
  std::lock_guard<std::mutex> lock(mu_);
  if (current_ && current_->access_key == used.access_key &&
      current_->session_token == used.session_token) {
    refresh_at_ = absl::InfinitePast();
    usable_until_ = absl::InfinitePast();  // not to be handed out while refreshing
  }
}

std::optional<Credentials> ProfileKeys(const std::string& ini, const std::string& profile,
                                       bool config_file) {
  // The config file names sections "[profile NAME]", except "[default]".
  std::string wanted = config_file && profile != "default" ? "profile " + profile : profile;
  Credentials c;
  bool in_section = false, found = false;
  for (absl::string_view raw : absl::StrSplit(ini, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      // "[name]", perhaps followed by a comment, as Python's configparser (botocore) reads it.
      size_t close = line.find(']');
      if (close == absl::string_view::npos) {
        in_section = false;
        continue;
      }
      std::string name(absl::StripAsciiWhitespace(line.substr(1, close - 1)));
      // "[profile  x]" with extra spaces is still profile x.
      std::vector<std::string> words = absl::StrSplit(name, ' ', absl::SkipEmpty());
      in_section = absl::StrJoin(words, " ") == wanted;
      found = found || in_section;
      continue;
    }
    if (!in_section) continue;
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits('=', 1));
    std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(kv.first));
    std::string value(absl::StripAsciiWhitespace(kv.second));
    if (key == "aws_access_key_id") c.access_key = value;
    if (key == "aws_secret_access_key") c.secret_key = value;
    if (key == "aws_session_token") c.session_token = value;
  }
  if (!found || c.access_key.empty() || c.secret_key.empty()) return std::nullopt;
  return c;
}

absl::StatusOr<std::shared_ptr<CredentialsProvider>> DefaultCredentials(
    const CredentialsSource& source) {
  auto env = source.getenv ? source.getenv : ProcessEnv;
  std::vector<std::string> looked;
  // A profile named in the repository's location is what the operator chose: only it is read.
  bool named_profile = !source.profile.empty();

  // 1. The environment.
  std::string access = env("AWS_ACCESS_KEY_ID"), secret = env("AWS_SECRET_ACCESS_KEY");
  if (!named_profile && !access.empty() && !secret.empty()) {
    return FixedCredentials(
        {.access_key = access, .secret_key = secret, .session_token = env("AWS_SESSION_TOKEN")},
        "the environment (AWS_ACCESS_KEY_ID)");
  }
  if (!named_profile) looked.push_back("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");

  // 2. A web identity token for a role.
  std::string role = env("AWS_ROLE_ARN"), token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
  if (!named_profile && !role.empty() && !token_file.empty()) {
    WebIdentityRequest req;
    req.role_arn = role;
    req.token_file = token_file;
    req.session_name = env("AWS_ROLE_SESSION_NAME");
    if (req.session_name.empty()) {
      req.session_name = absl::StrCat("mdb-backup-", absl::ToUnixSeconds(absl::Now()));
    }
    req.endpoint = !source.sts_endpoint.empty() ? source.sts_endpoint
                   : !env("AWS_ENDPOINT_URL_STS").empty()
                       ? env("AWS_ENDPOINT_URL_STS")
                       : absl::StrCat("https://sts.", source.region, ".amazonaws.com");
    req.ca_file = source.ca_file;
    req.timeout = source.timeout;
    std::string what =
        absl::StrCat("role '", role, "' by web identity (", token_file, ") at ", req.endpoint);
    return std::make_shared<RefreshingCredentials>(
        what, [req] { return AssumeRoleWithWebIdentity(req); });
  }
  if (!named_profile) looked.push_back("AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE");

  // 3. The shared credentials file, then the config file, for the profile.
  std::string profile = !source.profile.empty()       ? source.profile
                        : !env("AWS_PROFILE").empty() ? env("AWS_PROFILE")
                                                      : "default";
  std::string home = env("HOME");
  std::string files[2] = {env("AWS_SHARED_CREDENTIALS_FILE"), env("AWS_CONFIG_FILE")};
  if (files[0].empty() && !home.empty()) files[0] = home + "/.aws/credentials";
  if (files[1].empty() && !home.empty()) files[1] = home + "/.aws/config";
  for (int i = 0; i < 2; ++i) {
    if (files[i].empty()) continue;
    std::optional<std::string> text = ReadFile(files[i]);
    std::optional<Credentials> c = text ? ProfileKeys(*text, profile, i == 1) : std::nullopt;
    if (c) {
      return FixedCredentials(*c, absl::StrCat("profile '", profile, "' in ", files[i]));
    }
    looked.push_back(absl::StrCat("profile '", profile, "' in ", files[i]));
  }
  return absl::NotFoundError(
      absl::StrCat("no S3 credentials found; looked at ", absl::StrJoin(looked, ", ")));
}

}  // namespace mdb::storage::s3
