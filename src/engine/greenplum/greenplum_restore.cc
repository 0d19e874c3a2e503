// Restore of a segment = unpack its base archive into the target's empty data directory. The
// archive carries the WAL from the backup's start to its end (BASE_BACKUP WAL), so the server
// started on that directory recovers to the backup's consistent end by itself.
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "engine/greenplum/greenplum_engine.h"
#include "engine/greenplum/tar_extract.h"
#include "engine/per_shard.h"
#include "io/pipe.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::greenplum {
namespace {

absl::Status RestoreShard(const RestoreRequest& req, const mdb_backup::v1::PgShardBackup& shard,
                          const common::ShardConfig& target) {
  namespace fs = std::filesystem;
  const auto& opts = target.hosts.front().options;
  auto it = opts.find("data_dir");
  if (it == opts.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target shard '", target.name, "': its host needs a 'data_dir' to restore into"));
  }
  const std::string dir = it->second;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("target shard '", target.name, "': data directory '", dir,
                     "' is not empty; restore only into empty directories"));
  }
  int uid = -1, gid = -1;
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    uid = static_cast<int>(st.st_uid);
    gid = static_cast<int>(st.st_gid);
  } else {
    fs::create_directories(dir, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("create '", dir, "': ", ec.message()));
  }
  chmod(dir.c_str(), 0700);  // PostgreSQL refuses a data directory others can read
  for (const auto& stream : shard.streams()) {
    if (!absl::EndsWith(stream, "/base.tar")) {
      return absl::UnimplementedError(absl::StrCat("archive '", stream,
                                                   "' (a tablespace) cannot "
                                                   "be restored yet"));
    }
    io::Pipe pipe;
    absl::Status read_status;
    std::thread reader([&] {
      read_status = req.repository->RestoreStream(*req.manifest, stream, &pipe);
      pipe.Finish();
    });
    absl::Status extract = ExtractTar(&pipe, dir, uid, gid);
    if (!extract.ok()) pipe.Abandon();
    reader.join();
    RETURN_IF_ERROR(read_status);
    RETURN_IF_ERROR(extract);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status GreenplumDriver::Restore(const RestoreRequest& req) {
  mdb_backup::v1::PgBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  return RestoreEachShard(*req.target, meta.shards_size(), [&](size_t i) {
    return RestoreShard(req, meta.shards(i), req.target->shards[i]);
  });
}

}  // namespace mdb::engine::greenplum
