// Operations as data: the work behind each mutating API call, described by an OperationTask
// (records.proto) that is stored with the operation, so that whichever instance claims it
// runs it (ops/operation_runner.h). This is that instance's side: from the request to the jobs.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "catalog/catalog.h"
#include "common/config.h"
#include "metrics/metrics.h"
#include "ops/operation_runner.h"

namespace mdb::ops {

class Jobs;

// A committed backup as the metrics see it (Tasks after a backup, the server seeding at start).
metrics::BackupFigures FiguresOf(const catalog::BackupRecord& backup, std::string engine);

// The cluster `id` as this instance's config declares it now; nullopt when it does not.
using FindCluster = std::function<std::optional<common::ClusterConfig>(const std::string& id)>;

// server.drills as this instance's config says now.
using DrillsSettings = std::function<common::DrillsConfig()>;

// Every cluster this instance's config declares now.
using ListClusters = std::function<std::vector<common::ClusterConfig>()>;

class Tasks final : public TaskExecutor {
 public:
  // `jobs` may be null (no repository): then only deletes run, from the catalog alone.
  // `clusters`: what a scratch cluster is told apart from before a drill empties it.
  Tasks(catalog::Catalog* catalog, Jobs* jobs, FindCluster find_cluster, DrillsSettings drills,
        ListClusters clusters)
      : catalog_(catalog),
        jobs_(jobs),
        find_cluster_(std::move(find_cluster)),
        drills_(std::move(drills)),
        clusters_(std::move(clusters)) {}

  absl::StatusOr<google::protobuf::Any> Run(const std::string& request,
                                            const TaskContext& task) override;

 private:
  absl::StatusOr<common::ClusterConfig> Cluster(const std::string& id);

  catalog::Catalog* catalog_;
  Jobs* jobs_;
  FindCluster find_cluster_;
  DrillsSettings drills_;
  ListClusters clusters_;
};

}  // namespace mdb::ops
