// Shared shape of every engine's backup and restore: each shard on its own thread, the first
// failure (in declaration order) is the result; a restore target must declare as many shards as
// the backup holds.
#pragma once

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"

namespace mdb::engine {

// Runs `each` for shards 0..n-1 in parallel; the first failure in shard order, else OK.
inline absl::Status EachShardInParallel(size_t n,
                                        const std::function<absl::Status(size_t shard)>& each) {
  std::vector<absl::Status> results(n);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; ++i) threads.emplace_back([&, i] { results[i] = each(i); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    if (!r.ok()) return r;
  }
  return absl::OkStatus();
}

inline absl::Status RestoreEachShard(const common::ClusterConfig& target, int backup_shards,
                                     const std::function<absl::Status(size_t shard)>& restore) {
  if (target.shards.size() != static_cast<size_t>(backup_shards)) {
    return absl::FailedPreconditionError(absl::StrCat("the backup has ", backup_shards,
                                                      " shards but target cluster '", target.id,
                                                      "' declares ", target.shards.size()));
  }
  return EachShardInParallel(target.shards.size(), restore);
}

// Runs `backup` for every shard of `cluster` in parallel; their results in declaration order.
template <typename ShardResult>
absl::StatusOr<std::vector<ShardResult>> BackupEachShard(
    const common::ClusterConfig& cluster,
    const std::function<absl::StatusOr<ShardResult>(const common::ShardConfig&)>& backup) {
  const auto& shards = cluster.shards;
  std::vector<absl::StatusOr<ShardResult>> results(shards.size(), absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < shards.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = backup(shards[i]); });
  }
  for (auto& t : threads) t.join();
  std::vector<ShardResult> out;
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace mdb::engine
