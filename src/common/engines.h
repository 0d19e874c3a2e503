// The table of engines a binary serves, one row each, built once at start-up (engine/all.cc lists
// the built-in rows; tests add a fake one) and passed to whatever reads it: config parsing, the
// API's service list and routes, the gRPC registration, the CLI. This layer holds what everyone
// may know of an engine; the driver half of a row is engine::EngineModule (engine/engine.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "mdb_backup/v1/records.pb.h"

namespace mdb::common {

using Engine = ::mdb_backup::v1::Engine;

struct EngineInfo {
  // The id stored in catalogs and records; records.proto lists the ids taken.
  Engine engine;
  std::string_view name;         // "redis": in configs, the CLI and repository manifests
  std::string_view rest_prefix;  // "/managed-redis/v1"
  std::string_view endpoint_id;  // "managed-redis": what the official SDKs look the endpoint up by
  // The engine's public BackupService and ClusterService. Calling it links their generated
  // descriptors into the binary (naming a generated type is what pulls its file in).
  std::vector<const google::protobuf::ServiceDescriptor*> (*api_services)();
  // What a host entry of the engine's clusters may set besides `address` (its driver reads
  // them): the config refuses other keys, so a typo (`pasword_file`) is not silently ignored.
  std::vector<std::string_view> host_options;
  // Whether the driver starts throwaway servers of its own for `local` restore drills
  // (Driver::PrepareScratch); without, drills go into a declared scratch cluster only.
  bool local_drills = false;
  // A cluster's default `stall_timeout_seconds`: how long its backups may read nothing from it
  // before they are stopped. An hour covers a fast checkpoint; Redis's BGSAVE of a large dataset
  // and OpenSearch's snapshot (run inside the cluster before any byte is copied) take longer.
  int stall_timeout_seconds = 3600;
};

// An EngineInfo::api_services for the usual pair: BackupService declared in the file of
// `InBackupServiceFile` (a message type of that file), ClusterService in that of
// `InClusterServiceFile`.
template <typename InBackupServiceFile, typename InClusterServiceFile>
std::vector<const google::protobuf::ServiceDescriptor*> ApiServicesOf() {
  return {InBackupServiceFile::descriptor()->file()->FindServiceByName("BackupService"),
          InClusterServiceFile::descriptor()->file()->FindServiceByName("ClusterService")};
}

class EngineTable {
 public:
  // InvalidArgument when two rows share an id, a name, an API package, a REST prefix or an
  // endpoint id, or a row has no services: a wiring mistake, found at start-up and by tests.
  static absl::StatusOr<EngineTable> Make(std::vector<EngineInfo> rows);

  // Every engine, in the order of lists shown to people.
  const std::vector<EngineInfo>& rows() const { return rows_; }
  // The row of `engine`, or nullptr.
  const EngineInfo* Find(Engine engine) const;
  // The row whose public API package is `package` ("yandex.cloud.mdb.redis.v1"), or nullptr.
  const EngineInfo* FindByPackage(std::string_view package) const;
  // The API package of a row: that of its services.
  static std::string_view Package(const EngineInfo& row);
  // Every public service of every engine, in row order.
  std::vector<const google::protobuf::ServiceDescriptor*> Services() const;

  // "redis" -> Engine, with the known names in the error.
  absl::StatusOr<Engine> Parse(std::string_view name) const;
  std::string Name(Engine engine) const;  // "unspecified" for an id without a row

 private:
  explicit EngineTable(std::vector<EngineInfo> rows) : rows_(std::move(rows)) {}
  std::vector<EngineInfo> rows_;
};

}  // namespace mdb::common
