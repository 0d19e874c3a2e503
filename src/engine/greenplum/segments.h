// A Greenplum cluster declared by its coordinator: the segments are what the coordinator's
// gp_segment_configuration lists at the moment of asking (a backup, the journal's periodic look,
// a check), not a list kept by hand that misses a segment added or a mirror promoted.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace mdb::engine::greenplum {

// `discover_segments: "true"` on the coordinator (the cluster's only declared host): the segments
// are read from gp_segment_configuration. Each segment is read from its acting primary (a
// mirror that took over says role 'p'). A primary marked down whose mirror has not taken over
// yet fails the backup: a mirror still in recovery can be copied, but no restore point can be
// made on it, so the copy would have no cluster-wide point to be restored to.
// Resolved hosts carry the coordinator's other options (user, password_file, wal_slot...), the
// segment's content id as `gp_content`, `gp_promoted: "true"` for a mirror that took over, and
// `pg_options` for a utility-mode connection when the coordinator is a real Greenplum.
bool DiscoversSegments(const common::ClusterConfig& cluster);

// One row of gp_segment_configuration.
struct SegmentRow {
  int content = 0;            // -1: the coordinator (and its standby)
  char role = 'p';            // 'p' primary, 'm' mirror (as of now; a promoted mirror says 'p')
  char preferred_role = 'p';  // what it was set up as ('m' and role 'p': a mirror took over)
  char status = 'u';          // 'u' up, 'd' down
  std::string address;
  int port = 0;
};

// The layout the rows describe, as shards: "coordinator" (the declared host itself, through
// which the rows were read), then "seg0".."seg<N-1>" by content id. The coordinator's catalog is
// not trusted to be well formed: ids must run 0..N-1 with one primary each, addresses must look
// like host names, ports must be ports. `utility` is the libpq `options` of a segment connection.
absl::StatusOr<std::vector<common::ShardConfig>> LayoutFromRows(
    const std::vector<SegmentRow>& rows, const common::HostConfig& coordinator,
    const std::string& utility);

// The cluster with its shards read from the coordinator; a cluster not declared by its
// coordinator is returned as it is.
absl::StatusOr<common::ClusterConfig> ResolveSegments(const common::ClusterConfig& cluster,
                                                      const std::atomic<bool>* cancelled);

// A restore of a backup whose shards came from gp_segment_configuration: the target must declare
// the same shards by name and in the same order ("coordinator", "seg0", ...), so that each
// content id's files land on the server that will serve that content id.
absl::Status CheckTargetLayout(const std::vector<std::string>& backup_shards,
                               const common::ClusterConfig& target);

// A segment's content id: -1 for the coordinator; nullopt for a host not from discovery.
std::optional<int> ContentOf(const common::HostConfig& host);

}  // namespace mdb::engine::greenplum
