// What the CLI calls, read from the engine's public API descriptors rather than spelled per
// engine: the REST verb and path of an RPC (its google.api.http annotation, path parameters
// filled in), and the operations it gets back (protobuf's JSON mapping).
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "common/engines.h"
#include "yandex/cloud/operation/operation.pb.h"

namespace mdb::cli {

struct RestCall {
  std::string verb;  // "GET", "POST", "DELETE"
  std::string path;  // with the parameters filled in (escaped)
};

// Escapes what is not unreserved (RFC 3986): ids in paths cannot add segments, query values
// cannot add parameters.
std::string UrlEscape(const std::string& s);
// GET path of mdb_backup.v1.RecoveryService.GetRecoveryWindow (any engine's cluster).
std::string RecoveryWindowPath(const std::string& cluster_id);
// RecoveryService.ListVerifications of the cluster, and DrillBackup of a backup (POST).
std::string VerificationsPath(const std::string& cluster_id);
std::string DrillPath(const std::string& backup_id);

// `s` as a JSON string, quoted and escaped (request bodies built from ids a person typed).
std::string JsonString(const std::string& s);

// The call of `method` ("BackupService.Get", "ClusterService.Backup"...) of `engine`'s API, or
// NotFound when its API has no such method.
absl::StatusOr<RestCall> RestCallOf(const common::EngineInfo& engine, const std::string& method,
                                    const std::map<std::string, std::string>& params);
// Deleting a backup: BackupService.Delete where the engine has it, else
// ClusterService.DeleteBackup (OpenSearch), which also needs the cluster.
absl::StatusOr<RestCall> DeleteBackupCall(const common::EngineInfo& engine,
                                          const std::string& backup_id,
                                          const std::string& cluster_id);

// The folder_id of a backup from the REST JSON of the engine's BackupService.Get.
absl::StatusOr<std::string> BackupFolder(const common::EngineInfo& engine, const std::string& json);

// An Operation from its REST JSON (unknown fields are ignored: a newer server may add some).
absl::StatusOr<yandex::cloud::operation::Operation> ParseOperation(const std::string& json);
// Bytes done and the total from an operation's metadata (our extension fields), 0 when absent.
std::pair<int64_t, int64_t> OperationProgress(const yandex::cloud::operation::Operation& op);

}  // namespace mdb::cli
