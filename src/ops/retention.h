// Retention: which AUTOMATED backups of one cluster have outlived the retention period, without
// ever breaking what the kept backups need.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "catalog/catalog.h"

namespace mdb::ops {

// Returns the ids of `backups` (all backups of one cluster, any order) to delete at `now`:
// AUTOMATED backups created more than `retention` ago, except
//   - the newest backup of the cluster, whatever its age or type (never leave a cluster with none),
//   - any backup that a kept backup depends on through parent links (a BASE under a kept
//     INCREMENTAL, and the chain between),
// MANUAL backups are never selected: they stay until a user deletes them.
std::vector<std::string> SelectExpired(const std::vector<catalog::BackupRecord>& backups,
                                       absl::Time now, absl::Duration retention);

}  // namespace mdb::ops

namespace mdb::ops {

// The chain policy: whether the next backup of a cluster is BASE or INCREMENTAL, and on which
// parent. A chain is a BASE and the INCREMENTALs built on it; every `max_chain`-th backup (default
// 7: a weekly BASE for daily backups) starts a new chain, as does a cluster with no backup yet.
struct ChainChoice {
  bool incremental = false;
  std::string parent_id;  // the newest backup, when incremental
};
ChainChoice ChooseMethod(const std::vector<catalog::BackupRecord>& backups, int max_chain = 7);

}  // namespace mdb::ops
