#include "engine/redis/redis_acl.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace mdb::engine::redis {

absl::StatusOr<std::pair<std::string, std::vector<std::string>>> ParseAclUser(
    std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  int depth = 0;  // inside a selector's parentheses, spaces do not split
  for (char ch : line) {
    if (ch == ' ' && depth == 0) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
      continue;
    }
    if (ch == '(' && word.empty()) ++depth;
    if (ch == ')' && depth > 0) --depth;
    word.push_back(ch);
  }
  if (!word.empty()) words.push_back(std::move(word));
  if (depth != 0 || words.size() < 2 || words[0] != "user") {
    return absl::InvalidArgumentError(
        absl::StrCat("not an ACL user: '", std::string(line.substr(0, 80)), "'"));
  }
  std::vector<std::string> rules(words.begin() + 2, words.end());
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
  std::vector<std::string> set;
  for (const auto& line : lines) {
    ASSIGN_OR_RETURN(auto user, ParseAclUser(line));
    if (keep.count(user.first)) continue;
    // Made anew: exactly as backed up, whatever the target had under that name ("reset" would
    // add flags of its own, such as sanitize-payload, that the source's user may not have).
    auto dropped = conn->Command({"ACL", "DELUSER", user.first});
    if (!dropped.ok()) {
      return common::WithContext(dropped.status(),
                                 absl::StrCat("replacing ACL user '", user.first, "'"));
    }
    std::vector<std::string> cmd = {"ACL", "SETUSER", user.first};
    cmd.insert(cmd.end(), user.second.begin(), user.second.end());
    auto done = conn->Command(cmd);
    if (!done.ok()) {
      return common::WithContext(done.status(),
                                 absl::StrCat("restoring ACL user '", user.first, "'"));
    }
    set.push_back(user.first);
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
    absl::Status st = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(auto conn, ConnectHost(host, absl::Seconds(30), cancelled));
      return ApplyAclUsers(conn.get(), lines, KeptAclUsers(host)).status();
    }();
    if (!st.ok()) {
      return common::WithContext(
          st, absl::StrCat("the data is restored, but not the ACL users on ", host.address));
    }
  }
  return absl::OkStatus();
}

}  // namespace mdb::engine::redis
