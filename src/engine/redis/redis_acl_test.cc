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

TEST(RedisAcl, ASelectorEndsWhereRedisEndsIt) {
  // A ')' inside a word does not close the selector; the first word ending with one does.
  auto user = ParseAclUser("user carol on nopass (~sess(1)* +get) +ping");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->second, (std::vector<std::string>{"on", "nopass", "(~sess(1)* +get)", "+ping"}));
}

TEST(RedisAcl, WhatIsNotAUserIsRefusedWithoutQuotingIt) {
  EXPECT_FALSE(ParseAclUser("").ok());
  EXPECT_FALSE(ParseAclUser("user").ok());
  EXPECT_FALSE(ParseAclUser("group x on").ok());
  auto unclosed = ParseAclUser("user x on #5e884898da28047151d0e56f8dc62927 (~a* +get");
  ASSERT_FALSE(unclosed.ok());
  EXPECT_EQ(unclosed.status().message().find("5e8848"), std::string::npos);  // no hash in logs
  // ACL LIST shows hashes only: a clear-text password is a record no server made.
  auto forged = ParseAclUser("user ops on >letmein ~* +@all");
  EXPECT_EQ(forged.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(forged.status().message().find("letmein"), std::string::npos);
}

TEST(RedisAcl, TheTargetsOwnAccessIsKept) {
  common::HostConfig host{.address = "h:1", .options = {{"user", "mdb-backup"}}};
  EXPECT_EQ(KeptAclUsers(host), (std::set<std::string>{"default", "mdb-backup"}));
  EXPECT_EQ(KeptAclUsers({.address = "h:1", .options = {}}), std::set<std::string>{"default"});
}

}  // namespace
}  // namespace mdb::engine::redis
