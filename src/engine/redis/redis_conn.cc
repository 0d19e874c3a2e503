// Passwords may come from a file so that the config itself holds no secret.
#include "engine/redis/redis_conn.h"

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/host_options.h"
#include "common/status.h"

namespace mdb::engine::redis {

absl::StatusOr<std::unique_ptr<RespConn>> ConnectHost(const common::HostConfig& host,
                                                      absl::Duration timeout,
                                                      const std::atomic<bool>* cancelled) {
  ASSIGN_OR_RETURN(auto conn, RespConn::Connect(host.address, timeout));
  conn->set_cancel(cancelled);
  ASSIGN_OR_RETURN(std::string password, common::HostPassword(host));
  if (!password.empty()) {
    std::string user = common::HostOption(host, "user", "default");
    RETURN_IF_ERROR(conn->Command({"AUTH", user, password}).status());
  }
  return conn;
}

absl::StatusOr<Role> GetRole(RespConn* conn) {
  ASSIGN_OR_RETURN(RespValue v, conn->Command({"ROLE"}));
  if (v.type != RespValue::Type::kArray || v.array.empty()) {
    return absl::DataLossError(absl::StrCat("redis ", conn->address(), ": unexpected ROLE reply"));
  }
  Role role;
  role.master = v.array[0].str == "master";
  role.link_up = !role.master && v.array.size() > 3 && v.array[3].str == "connected";
  // master: ["master", offset, replicas]; replica: ["slave", ip, port, state, offset]
  const size_t at = role.master ? 1 : 4;
  if (v.array.size() > at && v.array[at].type == RespValue::Type::kInteger) {
    role.offset = v.array[at].integer;
  }
  if (role.master && v.array.size() > 2) {
    for (const auto& r : v.array[2].array) {
      int64_t ack = 0;
      if (r.array.size() >= 3 && absl::SimpleAtoi(r.array[2].str, &ack)) {
        role.replica_acks[absl::StrCat(r.array[0].str, ":", r.array[1].str)] = ack;
      }
    }
  }
  return role;
}

std::string InfoField(const std::string& info, const std::string& field) {
  std::string key = field + ":";
  size_t at = info.find("\n" + key);
  if (info.rfind(key, 0) == 0)
    at = 0;
  else if (at == std::string::npos)
    return "";
  else
    at += 1;
  size_t end = info.find_first_of("\r\n", at);
  return info.substr(at + key.size(), end - at - key.size());
}

}  // namespace mdb::engine::redis
