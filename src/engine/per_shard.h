// Shared shape of every engine's restore: the target must declare as many shards as the backup
// holds, and each shard is restored on its own thread; the first failure is the result.
#pragma once

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"

namespace mdb::engine {

inline absl::Status RestoreEachShard(const common::ClusterConfig& target, int backup_shards,
                                     const std::function<absl::Status(size_t shard)>& restore) {
  if (target.shards.size() != static_cast<size_t>(backup_shards)) {
    return absl::FailedPreconditionError(absl::StrCat("the backup has ", backup_shards,
                                                      " shards but target cluster '", target.id,
                                                      "' declares ", target.shards.size()));
  }
  std::vector<absl::Status> results(target.shards.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < target.shards.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = restore(i); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    if (!r.ok()) return r;
  }
  return absl::OkStatus();
}

}  // namespace mdb::engine
