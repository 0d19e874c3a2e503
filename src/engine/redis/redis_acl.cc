#include "engine/redis/redis_acl.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status.h"

namespace mdb::engine::redis {

absl::StatusOr<std::pair<std::string, std::vector<std::string>>> ParseAclUser(
    std::string_view line) {
  std::vector<std::string> words;
  // Redis's own rule for a selector (ACLMergeSelectorArguments): a word starting with '(' is
  // joined with the words after it up to the first one ending with ')'.
  bool open = false;
  for (absl::string_view w :
       absl::StrSplit(absl::string_view(line.data(), line.size()), ' ', absl::SkipEmpty())) {
    if (open) {
      absl::StrAppend(&words.back(), " ", w);
      open = !absl::EndsWith(w, ")");
      continue;
    }
    words.emplace_back(w);
    open = absl::StartsWith(w, "(") && !absl::EndsWith(w, ")");
  }
  // The line holds password hashes: an error names the user at most, never quotes the line.
  if (open || words.size() < 2 || words[0] != "user") {
    return absl::InvalidArgumentError(
        absl::StrCat("an ACL LIST line is not a user",
                     words.size() >= 2 ? absl::StrCat(" ('", words[1], "')") : ""));
  }
  std::vector<std::string> rules(words.begin() + 2, words.end());
  for (const auto& r : rules) {
    // ACL LIST shows hashes (#...), never passwords: a clear one (>, <) is a forged record.
    if (absl::StartsWith(r, ">") || absl::StartsWith(r, "<")) {
      return absl::InvalidArgumentError(
          absl::StrCat("ACL user '", words[1],
                       "' has a clear-text password rule, which ACL LIST "
                       "never shows: the record is not the server's"));
    }
  }
  return std::make_pair(std::move(words[1]), std::move(rules));
}

absl::StatusOr<std::vector<std::string>> ListAclUsers(RespConn* conn) {
  ASSIGN_OR_RETURN(RespValue list, conn->Command({"ACL", "LIST"}));
  std::vector<std::string> out;
  for (const auto& line : list.array) {
    RETURN_IF_ERROR(ParseAclUser(line.str).status());  // what restore will replay
    out.push_back(line.str);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ApplyAclUsers(RespConn* conn,
                                                       const std::vector<std::string>& lines,
                                                       const std::set<std::string>& keep) {
  // Users the target has already are its own: never replaced (a backup, or a compromised
  // source, must not take over a user the target's operators or replicas log in as).
  ASSIGN_OR_RETURN(RespValue existing, conn->Command({"ACL", "USERS"}));
  std::set<std::string> present;
  for (const auto& u : existing.array) present.insert(u.str);
  std::vector<std::string> set;
  for (const auto& line : lines) {
    ASSIGN_OR_RETURN(auto user, ParseAclUser(line));
    if (keep.count(user.first)) continue;
    if (present.count(user.first)) {
      common::Log(common::LogLevel::kWarning, "redis",
                  absl::StrCat(conn->address(), ": ACL user '", user.first,
                               "' exists on the target already: left as the target has it"));
      continue;
    }
    std::vector<std::string> cmd = {"ACL", "SETUSER", user.first};
    cmd.insert(cmd.end(), user.second.begin(), user.second.end());
    auto done = conn->Command(cmd);
    if (!done.ok()) {
      // The half-made user goes: nothing the backup did not have stays behind.
      (void)conn->Command({"ACL", "DELUSER", user.first});
      return common::WithContext(done.status(),
                                 absl::StrCat("restoring ACL user '", user.first, "'"));
    }
    set.push_back(user.first);
  }
  if (!set.empty()) {
    // Kept past a restart: the ACL file when the server has one, else its config file.
    if (!conn->Command({"ACL", "SAVE"}).ok() && !conn->Command({"CONFIG", "REWRITE"}).ok()) {
      common::Log(common::LogLevel::kWarning, "redis",
                  absl::StrCat(conn->address(),
                               ": restored ACL users are in memory only (no "
                               "ACL file, CONFIG REWRITE refused): save them "
                               "before the server restarts"));
    }
  }
  return set;
}

std::set<std::string> KeptAclUsers(const common::HostConfig& host) {
  auto user = host.options.find("user");
  return {"default", user == host.options.end() ? "default" : user->second};
}

absl::Status RestoreAclUsers(const std::vector<std::string>& lines,
                             const std::vector<common::HostConfig>& hosts,
                             const std::atomic<bool>* cancelled) {
  if (lines.empty()) return absl::OkStatus();
  for (const auto& host : hosts) {
    auto conn = ConnectHost(host, absl::Seconds(30), cancelled);
    if (absl::IsCancelled(conn.status())) return conn.status();
    if (!conn.ok()) {  // a server down: the others still get the users
      common::Log(
          common::LogLevel::kWarning, "redis",
          absl::StrCat("ACL users not restored on ", host.address, ": ", conn.status().message()));
      continue;
    }
    auto applied = ApplyAclUsers(conn->get(), lines, KeptAclUsers(host));
    if (!applied.ok()) {
      return common::WithContext(applied.status(), absl::StrCat("ACL users on ", host.address));
    }
  }
  return absl::OkStatus();
}

}  // namespace mdb::engine::redis
