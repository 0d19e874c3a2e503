#include "api/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/test_engines.h"

namespace mdb::api {
namespace {

using ::testing::HasSubstr;

common::Config TwoTokens() {
  auto cfg = common::ParseConfig(R"(
tokens:
  - {token: plain-token-1, subject: alice, read: [f1], restore: [f2], write: [f3]}
  - {token_sha256: 0000000000000000000000000000000000000000000000000000000000000000, read: ["*"]}
)",
                                 "c.yaml", common::TestEngines());
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  return *cfg;
}

TEST(Authenticator, TokensAndDigestsAuthenticate) {
  common::Config cfg = TwoTokens();
  Authenticator auth(cfg);
  bool guessed = true;
  auto alice = auth.Authenticate("Bearer plain-token-1", &guessed);
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_FALSE(guessed);
  EXPECT_EQ(alice->subject(), "alice");
  // Write implies restore implies read; read implies neither.
  EXPECT_TRUE(alice->CanRead("f1") && !alice->CanRestore("f1") && !alice->CanWrite("f1"));
  EXPECT_TRUE(alice->CanRead("f2") && alice->CanRestore("f2") && !alice->CanWrite("f2"));
  EXPECT_TRUE(alice->CanRead("f3") && alice->CanRestore("f3") && alice->CanWrite("f3"));
}

TEST(Authenticator, ATokenKnownByItsDigestOnly) {
  unsigned char d[32];
  crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>("hashed-token-2"), 14);
  std::string hex;
  for (unsigned char c : d) hex += absl::StrFormat("%02X", c);  // upper case is accepted too
  auto cfg = common::ParseConfig(
      absl::StrCat("tokens:\n  - {token_sha256: ", hex, ", subject: bob, read: [f1]}\n"), "c",
      common::TestEngines());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  Authenticator auth(*cfg);
  auto bob = auth.Authenticate("Bearer hashed-token-2");
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->subject(), "bob");
  EXPECT_FALSE(auth.Authenticate("Bearer hashed-token-3").ok());
}

TEST(Authenticator, WrongTokensAreGuessesAndMissingHeadersAreNot) {
  common::Config cfg = TwoTokens();
  Authenticator auth(cfg);
  bool guessed = false;
  auto st = auth.Authenticate("Bearer plain-token-2", &guessed);
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(guessed);
  EXPECT_FALSE(auth.Authenticate("Bearer plain-token-", &guessed).ok());  // a prefix
  EXPECT_TRUE(guessed);
  EXPECT_FALSE(auth.Authenticate("", &guessed).ok());
  EXPECT_FALSE(guessed);
  EXPECT_THAT(auth.Authenticate("Basic abc", &guessed).status().message(),
              HasSubstr("unsupported authorization scheme"));
  EXPECT_FALSE(guessed);
  // A NUL cuts nothing short: the token with a NUL and a tail is refused, not its prefix taken.
  std::string nul("Bearer plain-token-1\0tail", 25);
  EXPECT_THAT(auth.Authenticate(nul, &guessed).status().message(), HasSubstr("control characters"));
  EXPECT_TRUE(guessed);
}

TEST(FailedAuthThrottle, SlowsOneAddressAfterItsBurstAndRefills) {
  FailedAuthThrottle throttle({.burst = 3, .per_minute = 60});
  absl::Time t = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(throttle.Check("192.0.2.1", t).ok());
    throttle.Failed("192.0.2.1", t);
  }
  absl::Status st = throttle.Check("192.0.2.1", t);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(st.message(), HasSubstr("too many wrong tokens from 192.0.2.1; retry in 1 s"));
  EXPECT_TRUE(throttle.Check("192.0.2.2", t).ok());  // others are not locked out
  EXPECT_TRUE(throttle.Check("", t).ok());           // an unknown address is never throttled
  throttle.Failed("", t);
  EXPECT_FALSE(throttle.Check("192.0.2.1", t + absl::Milliseconds(900)).ok());
  EXPECT_TRUE(throttle.Check("192.0.2.1", t + absl::Seconds(1)).ok());  // one per second
  throttle.Failed("192.0.2.1", t + absl::Seconds(1));
  EXPECT_FALSE(throttle.Check("192.0.2.1", t + absl::Seconds(1)).ok());
  EXPECT_TRUE(throttle.Check("192.0.2.1", t + absl::Seconds(5)).ok());  // bounded wait
}

TEST(ClientKey, IPv4MappedIsIPv4AndIPv6IsItsSlash64) {
  EXPECT_EQ(ClientKey("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(ClientKey("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(ClientKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientKey("2001:db8:1:2::9"), ClientKey("2001:db8:1:2:ffff::1"));
  EXPECT_EQ(ClientKey("::1"), "::/64");
  EXPECT_EQ(ClientKey(""), "");
  // One bucket for a whole /64: a host cycling through its addresses gains nothing.
  FailedAuthThrottle throttle({.burst = 1, .per_minute = 1});
  absl::Time t = absl::FromUnixSeconds(1000);
  throttle.Failed("2001:db8:1:2::1", t);
  EXPECT_FALSE(throttle.Check("2001:db8:1:2::2", t).ok());
  EXPECT_TRUE(throttle.Check("2001:db8:1:3::1", t).ok());
  throttle.Failed("::ffff:192.0.2.7", t);
  EXPECT_FALSE(throttle.Check("192.0.2.7", t).ok());
}

TEST(FailedAuthThrottle, TheTableIsBounded) {
  FailedAuthThrottle throttle({.burst = 1, .per_minute = 1, .max_addresses = 2});
  absl::Time t = absl::FromUnixSeconds(1000);
  throttle.Failed("a", t);
  throttle.Failed("b", t + absl::Seconds(1));
  EXPECT_FALSE(throttle.Check("a", t + absl::Seconds(2)).ok());
  throttle.Failed("c", t + absl::Seconds(2));  // the stalest ("a") goes
  EXPECT_TRUE(throttle.Check("a", t + absl::Seconds(2)).ok());
  EXPECT_FALSE(throttle.Check("b", t + absl::Seconds(2)).ok());
  EXPECT_FALSE(throttle.Check("c", t + absl::Seconds(2)).ok());
}

}  // namespace
}  // namespace mdb::api
