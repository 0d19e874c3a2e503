// Kept set first, expired second: everything not expired is kept, then the parent closure of the
// kept set is added back. Deciding per backup in one pass would miss chains where an old BASE is
// needed by a young INCREMENTAL several links away.
#include "ops/retention.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/time_util.h"

namespace mdb::ops {

std::vector<std::string> SelectExpired(const std::vector<catalog::BackupRecord>& backups,
                                       absl::Time now, absl::Duration retention) {
  if (backups.empty()) return {};
  std::map<std::string, const catalog::BackupRecord*> by_id;
  for (const auto& b : backups) by_id[b.id()] = &b;
  const catalog::BackupRecord* newest = &backups[0];
  for (const auto& b : backups) {
    if (common::ToUnixNanos(b.created_at()) > common::ToUnixNanos(newest->created_at())) {
      newest = &b;
    }
  }
  std::set<std::string> kept;
  for (const auto& b : backups) {
    bool old = now - common::FromProto(b.created_at()) > retention;
    bool automated = b.type() == catalog::BackupRecord::AUTOMATED;
    if (!old || !automated || &b == newest) kept.insert(b.id());
  }
  // Everything a kept backup builds on is kept too.
  std::vector<std::string> work(kept.begin(), kept.end());
  while (!work.empty()) {
    std::string id = work.back();
    work.pop_back();
    auto it = by_id.find(id);
    if (it == by_id.end()) continue;
    const std::string& parent = it->second->parent_id();
    if (!parent.empty() && kept.insert(parent).second) work.push_back(parent);
  }
  std::vector<std::string> expired;
  for (const auto& b : backups) {
    if (!kept.count(b.id())) expired.push_back(b.id());
  }
  std::sort(expired.begin(), expired.end());
  return expired;
}

}  // namespace mdb::ops

namespace mdb::ops {

ChainChoice ChooseMethod(const std::vector<catalog::BackupRecord>& backups, int max_chain) {
  if (backups.empty() || max_chain <= 1) return {};
  std::map<std::string, const catalog::BackupRecord*> by_id;
  const catalog::BackupRecord* newest = &backups[0];
  for (const auto& b : backups) {
    by_id[b.id()] = &b;
    if (common::ToUnixNanos(b.created_at()) > common::ToUnixNanos(newest->created_at()))
      newest = &b;
  }
  // Length of the newest backup's chain, counting it: follow parents down to the BASE.
  int length = 1;
  for (const catalog::BackupRecord* b = newest; !b->parent_id().empty(); ++length) {
    auto it = by_id.find(b->parent_id());
    if (it == by_id.end()) return {};  // a broken chain: start a new one
    b = it->second;
  }
  if (length >= max_chain) return {};
  return {.incremental = true, .parent_id = newest->id()};
}

}  // namespace mdb::ops
