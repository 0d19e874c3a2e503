#include "engine/redis/redis_acl.h"

#include <gtest/gtest.h>

namespace mdb::engine::redis {
namespace {

TEST(RedisAcl, AUserLineBecomesTheRulesOfSetUser) {
  auto user = ParseAclUser("user alice on #4f3c ~cache:* resetchannels &news -@all +get");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->first, "alice");
  EXPECT_EQ(user->second, (std::vector<std::string>{"on", "#4f3c", "~cache:*", "resetchannels",
                                                    "&news", "-@all", "+get"}));
}

TEST(RedisAcl, ASelectorIsOneArgument) {
  // Redis 7 selectors: rules in parentheses, spaces inside.
  auto user = ParseAclUser("user bob off nopass ~a* (~b* +@read -keys) (%R~c* +get)");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->second, (std::vector<std::string>{"off", "nopass", "~a*", "(~b* +@read -keys)",
                                                    "(%R~c* +get)"}));
}

TEST(RedisAcl, WhatIsNotAUserIsRefused) {
  EXPECT_FALSE(ParseAclUser("").ok());
  EXPECT_FALSE(ParseAclUser("user").ok());
  EXPECT_FALSE(ParseAclUser("group x on").ok());
  EXPECT_FALSE(ParseAclUser("user x on (~a* +get").ok());  // an unclosed selector
}

TEST(RedisAcl, TheTargetsOwnAccessIsKept) {
  common::HostConfig host{.address = "h:1", .options = {{"user", "mdb-backup"}}};
  EXPECT_EQ(KeptAclUsers(host), (std::set<std::string>{"default", "mdb-backup"}));
  EXPECT_EQ(KeptAclUsers({.address = "h:1", .options = {}}), std::set<std::string>{"default"});
}

}  // namespace
}  // namespace mdb::engine::redis
