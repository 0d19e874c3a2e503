#include "engine/fake/fake_engine.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "io/stream.h"
#include "mdb_backup/fake/v1/fake.pb.h"

namespace mdb::engine::fake {
namespace {

namespace fs = std::filesystem;

// A shard's "server": the directory in its first host's `dir` option.
absl::StatusOr<fs::path> ShardDir(const common::ShardConfig& shard) {
  const auto& options = shard.hosts.front().options;
  auto it = options.find("dir");
  if (it == options.end()) {
    return absl::InvalidArgumentError(absl::StrCat("shard '", shard.name, "' has no 'dir'"));
  }
  return fs::path(it->second);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

absl::StatusOr<BackupResult> FakeDriver::Backup(const BackupRequest& req) {
  BackupResult result;
  for (const auto& shard : req.cluster->shards) {
    ASSIGN_OR_RETURN(fs::path dir, ShardDir(shard));
    if (!fs::is_directory(dir)) {
      return absl::UnavailableError(
          absl::StrCat("shard '", shard.name, "': no directory '", dir.string(), "'"));
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      io::StringSource src(ReadFile(entry.path()));
      RETURN_IF_ERROR(req.writer->AddStream(
          absl::StrCat(shard.name, "/", entry.path().filename().string()), &src));
    }
    result.shard_names.push_back(shard.name);
  }
  mdb_backup::fake::v1::Backup api;  // what only this engine shows in its API
  api.set_flavour("vanilla");
  result.engine_fields.PackFrom(api);
  return result;
}

absl::Status FakeDriver::Restore(const RestoreRequest& req) {
  for (const auto& shard : req.target->shards) {
    ASSIGN_OR_RETURN(fs::path dir, ShardDir(shard));
    fs::create_directories(dir);
    for (const auto& s : req.manifest->streams()) {
      if (s.name().rfind(shard.name + "/", 0) != 0) continue;
      io::StringSink sink;
      RETURN_IF_ERROR(req.repository->RestoreStream(*req.manifest, s.name(), &sink));
      std::ofstream(dir / s.name().substr(shard.name.size() + 1), std::ios::binary) << sink.data();
    }
  }
  return absl::OkStatus();
}

EngineModule Module() {
  namespace api = mdb_backup::fake::v1;
  return {.info = {.engine = kEngineId,
                   .name = "fake",
                   .rest_prefix = "/fake/v1",
                   .endpoint_id = "fake",
                   .api_services =
                       &common::ApiServicesOf<api::GetBackupRequest, api::BackupClusterRequest>,
                   .host_options = {"dir"}},
          .make_driver = [] { return std::make_unique<FakeDriver>(); }};
}

}  // namespace mdb::engine::fake
