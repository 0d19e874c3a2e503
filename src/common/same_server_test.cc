#include "common/same_server.h"

#include <gtest/gtest.h>

namespace mdb::common {
namespace {

ClusterConfig Cluster(const std::string& id, std::vector<std::string> addresses) {
  ClusterConfig c;
  c.id = id;
  ShardConfig shard{.name = id, .hosts = {}};
  for (auto& a : addresses) shard.hosts.push_back({.address = std::move(a), .options = {}});
  c.shards.push_back(std::move(shard));
  return c;
}

// A resolver of a made-up network: this host is 10.0.0.5 (and the loopback).
ServerIdentity Network() {
  return {.resolve = [](const std::string& host) -> absl::StatusOr<std::vector<std::string>> {
            if (host == "localhost") return std::vector<std::string>{"127.0.0.1", "::1"};
            if (host == "db1.internal" || host == "10.0.0.9")
              return std::vector<std::string>{"10.0.0.9"};
            if (host == "me.internal" || host == "10.0.0.5")
              return std::vector<std::string>{"10.0.0.5"};
            if (host == "127.0.0.1" || host == "127.0.1.1" || host == "::1")
              return std::vector<std::string>{host};
            if (host == "10.0.0.7") return std::vector<std::string>{host};
            if (host == "v6-mapped.internal") return std::vector<std::string>{"::ffff:10.0.0.9"};
            if (host == "dns-down.internal") return absl::UnavailableError("resolver down");
            return absl::NotFoundError("no such name");
          },
          .this_host = {"127.0.0.1", "::1", "10.0.0.5"}};
}

std::string Shared(const std::string& scratch, const std::string& other) {
  auto got = SharedServer(Cluster("scratch", {scratch}), {Cluster("prod", {other})}, Network());
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? *got : "error";
}

TEST(SameServer, NamesAndAddressesOfOneServerAreOne) {
  EXPECT_NE(Shared("localhost:6379", "127.0.0.1:6379"), "");
  EXPECT_NE(Shared("[::1]:6379", "127.0.0.1:6379"), "");  // both this host's loopback
  EXPECT_NE(Shared("db1.internal:6379", "10.0.0.9:6379"), "");
  // A server listening on every address of this host answers at its own address too.
  EXPECT_NE(Shared("127.0.0.1:6379", "me.internal:6379"), "");
  EXPECT_NE(Shared("127.0.1.1:6379", "127.0.0.1:6379"), "");  // all of 127/8 is this host
  // A host without a port may be any server there.
  EXPECT_NE(Shared("10.0.0.9:7000", "db1.internal"), "");
  EXPECT_NE(Shared("v6-mapped.internal:6379", "10.0.0.9:6379"), "");  // ::ffff:10.0.0.9
}

TEST(SameServer, OtherPortsOrHostsAreOthers) {
  EXPECT_EQ(Shared("127.0.0.1:7000", "127.0.0.1:6379"), "");
  EXPECT_EQ(Shared("10.0.0.7:6379", "10.0.0.9:6379"), "");
  EXPECT_EQ(Shared("localhost:7000", "me.internal:6379"), "");
  // Another cluster's host that does not resolve now is compared as written.
  EXPECT_EQ(Shared("10.0.0.7:6379", "gone.internal:6379"), "");
  EXPECT_NE(Shared("10.0.0.7:6379", "10.0.0.7:6379"), "");
}

TEST(SameServer, ItNamesBothAndRefusesAScratchHostThatDoesNotResolve) {
  auto got =
      SharedServer(Cluster("scratch", {"localhost:6379"}),
                   {Cluster("scratch", {"localhost:6379"}), Cluster("orders", {"10.0.0.7:1"}),
                    Cluster("prod", {"10.0.0.9:1", "127.0.0.1:6379"})},
                   Network());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "cluster 'prod' host 127.0.0.1:6379 may be the scratch host localhost:6379");
  auto unknown = SharedServer(Cluster("scratch", {"nowhere.internal:6379"}), {}, Network());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kFailedPrecondition);
  // A resolver that cannot answer now proves nothing apart: no emptying, try again later.
  auto down = SharedServer(Cluster("scratch", {"10.0.0.7:6379"}),
                           {Cluster("prod", {"dns-down.internal:6379"})}, Network());
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(
      SharedServer(Cluster("scratch", {"dns-down.internal:6379"}), {}, Network()).status().code(),
      absl::StatusCode::kUnavailable);
}

TEST(SameServer, TheSystemsResolverKnowsLocalhost) {
  auto got = SharedServer(Cluster("scratch", {"localhost:16379"}),
                          {Cluster("prod", {"127.0.0.1:16379"})}, SystemServerIdentity());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_NE(*got, "");
}

}  // namespace
}  // namespace mdb::common
