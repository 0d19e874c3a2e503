#include "ops/leases.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "catalog/forwarding_catalog.h"
#include "common/test_dir.h"

namespace mdb::ops {
namespace {

struct SystemClock final : Clock {
  absl::Time Now() const override { return absl::Now(); }
};

// A catalog whose lease releases fail with `refusal` (OK: they reach the real one).
class Releases final : public catalog::ForwardingCatalog {
 public:
  using ForwardingCatalog::ForwardingCatalog;
  absl::Status ReleaseLease(const std::string& name, const std::string& owner) override {
    tried.push_back(name);
    if (!refusal.ok()) return refusal;
    return ForwardingCatalog::ReleaseLease(name, owner);
  }
  absl::Status refusal;
  std::vector<std::string> tried;
};

std::vector<common::ClusterConfig> Clusters() {
  std::vector<common::ClusterConfig> out(3);
  out[0].id = "a";
  out[1].id = "b";
  out[2].id = "c";
  return out;
}

// A shutdown hands every cluster's lease back, so another instance takes the work at once; with
// the catalog away it stops at the first (each would wait its own timeout), and the leases run
// out by themselves.
TEST(Leases, ReleaseEachHandsBackEveryLeaseAndStopsAtAnUnreachableCatalog) {
  auto dir = common::FreshTestDir("leases_release_each");
  auto real = catalog::OpenSqliteCatalog((dir / "catalog.db").string());
  ASSERT_TRUE(real.ok()) << real.status();
  Releases catalog(real->get());
  SystemClock clock;
  Leases mine(&catalog, "me", &clock), other(&catalog, "other", &clock);
  for (const auto& c : Clusters()) ASSERT_TRUE(*mine.Hold("automated/" + c.id, absl::Hours(20)));

  catalog.refusal = absl::UnavailableError("catalog away");
  mine.ReleaseEach("automated/", Clusters());
  EXPECT_EQ(catalog.tried, std::vector<std::string>{"automated/a"});

  catalog.tried.clear();
  catalog.refusal = absl::InternalError("one row refused");  // the catalog answers: go on
  mine.ReleaseEach("automated/", Clusters());
  EXPECT_EQ(catalog.tried.size(), 3u);

  catalog.tried.clear();
  catalog.refusal = absl::OkStatus();
  mine.ReleaseEach("automated/", Clusters());
  EXPECT_EQ(catalog.tried, (std::vector<std::string>{"automated/a", "automated/b", "automated/c"}));
  for (const auto& c : Clusters()) EXPECT_TRUE(*other.Hold("automated/" + c.id, absl::Hours(1)));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::ops
