// A GC's outcome in the metrics, the periodic GC's (Jobs::Gc, which a delete's runs too): a
// repository that answered with damage is up (its alert is MdbRepositoryDamaged), one that did not
// answer is down (MdbRepositoryDown).
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "metrics/metrics.h"
#include "ops/jobs.h"
#include "ops/jobs_test_fixture.h"
#include "storage/fault_storage.h"

namespace mdb::ops {
namespace {

using jobs_fakes::JobsTest;

// The value of the series named exactly `series` in the metrics text (0 when absent).
double Series(const std::string& series) {
  for (absl::string_view line : absl::StrSplit(metrics::Metrics::Get().Text(), '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double v = 0;
      return absl::SimpleAtod(line, &v) ? v : -1;
    }
  }
  return 0;
}

TEST_F(JobsTest, AGcThatFindsDamageLeavesTheRepositoryUpAndOneThatCannotReachItDown) {
  ASSERT_TRUE(Backup("b1").ok());
  absl::Status fault;  // what reading b1's manifest answers while set
  storage::FaultStorage faulty(
      storage_.get(), [&](storage::FaultOp op, const std::string& key, int) {
        return storage::Fault{
            .fail = !fault.ok() && op == storage::FaultOp::kGet && key == "manifests/b1",
            .status = fault};
      });
  auto repo = std::move(*repo::Repository::Open(&faulty, {}));
  Jobs jobs(catalog_.get(), repo.get(), *engines_);
  const std::string damaged = "mdb_repository_gc_total{code=\"DATA_LOSS\"}";
  const std::string down = "mdb_repository_gc_total{code=\"UNAVAILABLE\"}";
  const std::string ok = "mdb_repository_gc_total{code=\"OK\"}";

  ASSERT_TRUE(jobs.Gc().status().ok());
  EXPECT_EQ(Series("mdb_repository_up"), 1);
  const double oks = Series(ok), damages = Series(damaged), downs = Series(down);
  EXPECT_GE(oks, 1);

  fault = absl::DataLossError("manifest b1: bad frame");
  EXPECT_EQ(jobs.Gc().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Series("mdb_repository_up"), 1);
  EXPECT_EQ(Series(damaged), damages + 1);

  fault = absl::UnavailableError("connection refused");
  EXPECT_EQ(jobs.Gc().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Series("mdb_repository_up"), 0);
  EXPECT_EQ(Series(down), downs + 1);

  fault = absl::DataLossError("manifest b1: bad frame");  // it answers again, damaged: up
  EXPECT_EQ(jobs.Gc().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Series("mdb_repository_up"), 1);

  fault = absl::OkStatus();
  ASSERT_TRUE(jobs.Gc().status().ok());
  EXPECT_EQ(Series("mdb_repository_up"), 1);
  EXPECT_EQ(Series(ok), oks + 1);
}

}  // namespace
}  // namespace mdb::ops
