// The rendering of /metrics in process, 1,000 clusters with a backup each: a scrape after an
// event of one cluster (its text rendered again by prometheus-cpp, the others' reused), after an
// event in every cluster (all rendered: the first scrape after start or a reload), and one with
// no event since (the joined text reused).
// Usage: build/bench/metrics_render_bench
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "metrics/metrics.h"

int main() {
  mdb::metrics::Metrics m;
  for (int i = 0; i < 1000; ++i) {
    std::string c = absl::StrCat("c", i);
    m.ClusterDeclared("redis", c);
    m.BackupKnown({.engine = "redis",
                   .cluster = c,
                   .method = "BASE",
                   .started = absl::FromUnixSeconds(1'796'000'000),
                   .completed = absl::FromUnixSeconds(1'796'000'300),
                   .logical_bytes = 123456789,
                   .stored_bytes = 23456789,
                   .added_bytes = 3456789});
  }
  enum Event { kNone, kOne, kAll };
  auto median_ms = [&](Event event) {
    std::vector<double> ms;
    size_t bytes = 0;
    for (int k = 0; k < 101; ++k) {
      if (event == kOne) m.BackupFailed("redis", "c1", absl::StatusCode::kUnavailable);
      for (int i = 0; event == kAll && i < 1000; ++i) {
        m.BackupFailed("redis", absl::StrCat("c", i), absl::StatusCode::kUnavailable);
      }
      auto t = std::chrono::steady_clock::now();
      bytes = m.Text().size();
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-32s %zu bytes, median %.3f ms\n",
                event == kOne   ? "after an event of one cluster:"
                : event == kAll ? "after an event of every cluster:"
                                : "no event since the last:",
                bytes, ms[50]);
  };
  median_ms(kOne);
  median_ms(kAll);
  median_ms(kNone);
}
