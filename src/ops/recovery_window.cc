#include "ops/recovery_window.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mdb::ops {

RecoveryWindow BuildWindow(std::vector<BackupPoint> backups, bool point_in_time) {
  std::sort(backups.begin(), backups.end(),
            [](const BackupPoint& a, const BackupPoint& b) { return a.at < b.at; });
  RecoveryWindow w{.point_in_time = point_in_time};
  for (const auto& b : backups) {
    RecoverySpan span{.from = b.at, .to = b.at, .backup_ids = {b.id}};
    if (point_in_time && b.reach) {
      span.to = std::max(b.at, b.reach->until);
      span.stopped = b.reach->stopped;
      span.gap = b.reach->gap;
    } else if (point_in_time) {
      span.stopped = "no journal archived past this backup's point yet";
    }
    // A backup inside (or at the end of) the previous span extends it; without a journal
    // every backup is a point of its own.
    if (point_in_time && !w.spans.empty() && span.from <= w.spans.back().to) {
      RecoverySpan& last = w.spans.back();
      last.backup_ids.push_back(b.id);
      if (span.to >= last.to) {
        last.to = span.to;
        last.stopped = span.stopped;
        last.gap = span.gap;
      }
      continue;
    }
    if (point_in_time && !w.spans.empty()) {
      const RecoverySpan& last = w.spans.back();
      w.gaps.push_back(
          {.from = last.to,
           .to = span.from,
           .reason = last.gap ? last.stopped
                              : absl::StrCat("the archived journal ends here (", last.stopped,
                                             "): archiving stopped or fell behind until the "
                                             "next backup")});
    }
    w.spans.push_back(std::move(span));
  }
  return w;
}

}  // namespace mdb::ops
