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

// A catalog that counts the calls a shutdown's hand-back makes, and fails them with `refusal`.
class Releases final : public catalog::ForwardingCatalog {
 public:
  using ForwardingCatalog::ForwardingCatalog;
  absl::Status ReleaseLease(const std::string& name, const std::string& owner) override {
    ++calls;
    return ForwardingCatalog::ReleaseLease(name, owner);
  }
  absl::Status ReleaseLeases(const std::string& prefix, const std::string& owner) override {
    ++calls;
    if (!refusal.ok()) return refusal;
    return ForwardingCatalog::ReleaseLeases(prefix, owner);
  }
  absl::Status refusal;
  int calls = 0;
};

// A shutdown hands every cluster's window back in one catalog call, so another instance takes
// the work at once; with the catalog away that is one wait, not one per cluster, and the leases
// run out by themselves.
TEST(Leases, ReleaseAllHandsBackEveryLeaseOfAPrefixInOneCall) {
  auto dir = common::FreshTestDir("leases_release_all");
  auto real = catalog::OpenSqliteCatalog((dir / "catalog.db").string());
  ASSERT_TRUE(real.ok()) << real.status();
  Releases catalog(real->get());
  SystemClock clock;
  Leases mine(&catalog, "me", &clock), other(&catalog, "other", &clock);
  for (const char* name : {"automated/a", "automated/b", "automated/c", "journal/a"}) {
    ASSERT_TRUE(*mine.Hold(name, absl::Hours(20))) << name;
  }
  catalog.refusal = absl::UnavailableError("catalog away");
  mine.ReleaseAll("automated/");
  EXPECT_EQ(catalog.calls, 1);
  EXPECT_FALSE(*other.Hold("automated/a", absl::Hours(1)));  // still mine: it runs out

  catalog.calls = 0;
  catalog.refusal = absl::OkStatus();
  mine.ReleaseAll("automated/");
  EXPECT_EQ(catalog.calls, 1);
  for (const char* name : {"automated/a", "automated/b", "automated/c"}) {
    EXPECT_TRUE(*other.Hold(name, absl::Hours(1))) << name;
  }
  EXPECT_FALSE(*other.Hold("journal/a", absl::Hours(1)));  // another prefix: kept
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::ops
