// What a Redis server keeps outside its RDB and a restore must bring back too: ACL users (in the
// server's config or ACL file, never in a snapshot) and, for restores key by key, function
// libraries (FUNCTION DUMP's payload; a full resync carries them in the RDB).
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/redis/redis_conn.h"

namespace mdb::engine::redis {

// One line of ACL LIST ("user alice on #<sha256> ~cache:* resetchannels -@all +get") as the
// user's name and the rules ACL SETUSER takes, one argument each (a selector "(~k* +get)" is one
// argument, as Redis joins it). InvalidArgument for a line that is not a user, or that holds a
// clear-text password (ACL LIST shows hashes only: such a record was not made by a server).
absl::StatusOr<std::pair<std::string, std::vector<std::string>>> ParseAclUser(
    std::string_view line);

// The server's users (ACL LIST). An error for a server that has none to give (older than Redis 6,
// or the service's user lacks +acl|list): the caller records why.
absl::StatusOr<std::vector<std::string>> ListAclUsers(RespConn* conn);

// Makes every user of `lines` on the server (ACL SETUSER name rules...) that it does not have
// yet, except `keep`: a user the target has already (its default user, the service's, its
// operators') is left as it is. Then ACL SAVE, else CONFIG REWRITE, so that they outlive a
// restart (a warning when neither works). Returns the names made.
absl::StatusOr<std::vector<std::string>> ApplyAclUsers(RespConn* conn,
                                                       const std::vector<std::string>& lines,
                                                       const std::set<std::string>& keep);

// The users a restore leaves alone on a target reached through `host`.
std::set<std::string> KeptAclUsers(const common::HostConfig& host);

// Before a restore's data (so that a refusal leaves the target as empty as it was): the
// backup's users made on every one of `hosts` (ACLs are per server, not replicated); a host that
// does not answer is skipped with a warning. `lines` empty: nothing to do.
absl::Status RestoreAclUsers(const std::vector<std::string>& lines,
                             const std::vector<common::HostConfig>& hosts,
                             const std::atomic<bool>* cancelled);

}  // namespace mdb::engine::redis
