// The restorable window of a cluster: which moments a restore reaches (issue #18). Built from
// the cluster's backups (each restores to its own point) and, for engines with a continuous
// journal, how far each backup's journal reaches (engine::Driver::JournalReaches, which follows
// the rule the driver's Restore applies).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace mdb::ops {

struct RecoverySpan {
  absl::Time from, to;  // to == from: a backup's point alone
  std::vector<std::string> backup_ids;
  std::string stopped;  // why the span ends at `to` (engines with a journal)
  bool gap = false;     // ended by missing journal
};

struct RecoveryGap {
  absl::Time from, to;
  std::string reason;
};

struct RecoveryWindow {
  bool point_in_time = false;
  std::vector<RecoverySpan> spans;  // oldest first
  std::vector<RecoveryGap> gaps;    // between consecutive spans (engines with a journal)
};

// How far a backup's journal reaches (engine::JournalReach, restated here: the API sees this
// header and never an engine's).
struct JournalEnd {
  absl::Time until;
  std::string stopped;
  bool gap = false;
};

struct BackupPoint {
  std::string id;
  absl::Time at;  // the moment a restore of the backup alone reaches
  std::optional<JournalEnd> reach;
};

// The window of `backups` (any order). Pure: unit-tested in recovery_window_test.cc.
RecoveryWindow BuildWindow(std::vector<BackupPoint> backups, bool point_in_time);

}  // namespace mdb::ops
