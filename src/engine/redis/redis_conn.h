// Connecting to a configured Redis host: authentication and role discovery shared by backup and
// restore.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "engine/redis/resp.h"

namespace mdb::engine::redis {

// Connects and authenticates with the host's `user` / `password` / `password_file` options.
// Waits for the server check `cancelled` when given.
absl::StatusOr<std::unique_ptr<RespConn>> ConnectHost(const common::HostConfig& host,
                                                      absl::Duration timeout,
                                                      const std::atomic<bool>* cancelled = nullptr);

struct Role {
  bool master = false;
  bool link_up = false;  // replicas: connected to their master
  // The replication offset: a master's current one, a replica's processed one (-1: unknown).
  int64_t offset = -1;
  // A master's replicas ("ip:port" as they announce themselves) and the offset each has
  // acknowledged: with `offset`, one reply's moment.
  std::map<std::string, int64_t> replica_acks;
};
absl::StatusOr<Role> GetRole(RespConn* conn);

// Value of `field` in an INFO reply ("" if absent).
std::string InfoField(const std::string& info, const std::string& field);

}  // namespace mdb::engine::redis
