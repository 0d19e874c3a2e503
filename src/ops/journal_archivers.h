// The continuous journal archivers (WAL) of the declared clusters whose engine has one: started
// from the config, restarted when a cluster's declaration changes, stopped when it goes; each
// committed piece is handed to the JournalKeeper. One lock, over the set of running archivers.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/config.h"
#include "engine/registry.h"
#include "ops/journal_keeper.h"
#include "repo/repository.h"

namespace mdb::ops {

class JournalArchivers {
 public:
  using Log = std::function<void(const std::string&)>;
  // All outlive the archivers; `repository` null means none are started.
  JournalArchivers(repo::Repository* repository, const engine::EngineRegistry& engines,
                   JournalKeeper* keeper, Log log)
      : repository_(repository), engines_(engines), keeper_(keeper), log_(std::move(log)) {}
  ~JournalArchivers() { Stop(); }  // the archivers call back into the keeper

  // Whether this instance may archive a cluster's journal now (several instances: it holds the
  // cluster's journal lease, renewed by the call). Unset: every cluster.
  using Owns = std::function<bool(const std::string& cluster_id)>;
  void set_owns(Owns owns) { owns_ = std::move(owns); }

  // (Re)starts the archivers of `config`'s clusters this instance owns; archivers of clusters
  // whose declaration changed are restarted, of clusters no longer declared or owned stopped.
  // Called again every third of the lease, it renews ownership and takes over the clusters of
  // an instance that stopped renewing (the new archiver resumes from the replication slot).
  void Apply(const common::Config& config);
  void Stop();
  // The ids of the clusters being archived.
  std::vector<std::string> Running();

 private:
  repo::Repository* repository_;
  const engine::EngineRegistry& engines_;
  JournalKeeper* keeper_;
  Log log_;
  Owns owns_;
  std::mutex mu_;
  struct Archiver {
    std::string declaration;  // what it was started from, to notice changes on reload
    std::unique_ptr<engine::Journal> journal;
  };
  std::map<std::string, Archiver> archivers_;  // by cluster id
};

}  // namespace mdb::ops
