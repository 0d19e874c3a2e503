// The Greenplum/PostgreSQL journal: every segment's WAL streamed by the service over the
// replication protocol from a physical replication slot (as pg_receivewal does) and committed to
// the repository one completed WAL segment at a time. The slot makes the server keep WAL the
// service has not stored yet, so a service restart loses nothing; the service confirms a position
// to the server only after the segment holding it is committed.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/greenplum/wal_names.h"

namespace mdb::engine::greenplum {

// Metadata of one archived segment (the manifest's engine metadata).
struct WalSegmentInfo {
  uint32_t timeline = 0;
  Lsn start = 0;
  uint64_t size = 0;
};

class WalJournal final : public Journal {
 public:
  explicit WalJournal(const JournalOptions& options);
  ~WalJournal() override;  // stops the streams and waits for them

 private:
  void Run(size_t shard);
  absl::Status StreamOnce(size_t shard);
  // Stores one complete segment as its repository object (already there: nothing to do).
  absl::Status Commit(const common::ShardConfig& shard, const std::string& system_id,
                      uint32_t timeline, Lsn segment_start, std::string segment);
  JournalOptions options_;
  common::ClusterConfig cluster_;  // a copy: the caller's may be reloaded
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace mdb::engine::greenplum
