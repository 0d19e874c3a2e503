// Backup = snapshot, prune, copy. The old snapshots are deleted from the cluster's repository
// before the copy, so the copy holds exactly this snapshot's files; they are safe to delete
// because every one of them is already in an earlier backup of ours.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "engine/opensearch/opensearch_common.h"
#include "engine/opensearch/opensearch_engine.h"
#include "io/beneath.h"
#include "mdb_backup/v1/engines.pb.h"
#include "yandex/cloud/mdb/opensearch/v1/backup.pb.h"

namespace mdb::engine::opensearch {
namespace {

namespace fs = std::filesystem;

// Registers the fs repository unless the cluster already has it at the same place.
absl::Status EnsureRepository(OsClient* os, const std::string& name, const std::string& path) {
  ASSIGN_OR_RETURN(HttpReply got, os->Call("GET", "/_snapshot/" + name));
  if (got.status == 200) {
    std::string location = GetStr(got.body, "/" + name + "/settings/location");
    std::string type = GetStr(got.body, "/" + name + "/type");
    if (type != "fs" || fs::weakly_canonical(location) != fs::weakly_canonical(path)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "opensearch ", os->address(), ": snapshot repository '", name, "' is a ", type,
          " repository at '", location, "', not the fs repository at '", path,
          "' this cluster's repository_path names; give the service its own repository"));
    }
    return absl::OkStatus();
  }
  Json body = {{"type", "fs"}, {"settings", {{"location", path}, {"compress", false}}}};
  return os->Ok("PUT", "/_snapshot/" + name, "registering the snapshot repository", body).status();
}

// Deletes every snapshot of ours in the repository except `keep`.
absl::Status PruneSnapshots(OsClient* os, const std::string& repo, const std::string& keep) {
  ASSIGN_OR_RETURN(Json all, os->Ok("GET", "/_snapshot/" + repo + "/_all", "listing snapshots"));
  Json snapshots = GetNode(all, "/snapshots");
  if (!snapshots.is_array()) snapshots = Json::array();
  for (const auto& s : snapshots) {
    std::string name = GetStr(s, "/snapshot");
    if (name == keep || !absl::StartsWith(name, "mdb-")) continue;
    RETURN_IF_ERROR(os->Ok("DELETE", "/_snapshot/" + repo + "/" + name,
                           absl::StrCat("deleting the older snapshot '", name, "'"))
                        .status());
  }
  return absl::OkStatus();
}

class FileSource final : public io::ByteSource {
 public:
  explicit FileSource(int fd, const std::atomic<bool>* cancelled)
      : fd_(fd), cancelled_(cancelled) {}
  ~FileSource() override { close(fd_); }
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (cancelled_ && cancelled_->load()) return absl::CancelledError("backup cancelled");
    return io::FdSource(fd_).Read(buf, n);
  }

 private:
  int fd_;
  const std::atomic<bool>* cancelled_;
};

// Copies the repository's files into the backup, reusing immutable ones from `previous`.
absl::Status CopyRepository(const std::string& root, const BackupRequest& req,
                            mdb_backup::v1::OpenSearchBackup* meta, int64_t* bytes) {
  std::map<std::string, const repo::Stream*> before;
  if (req.previous) {
    for (const auto& s : req.previous->streams()) before[s.name()] = &s;
  }
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    // Regular files only, never through a symlink: the directory is writable by the nodes, and a
    // link planted there must not make the service read other files into a backup.
    if (fs::is_regular_file(it->symlink_status())) {
      files.push_back(fs::relative(it->path(), root).string());
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat("reading '", root, "': ", ec.message()));
  std::sort(files.begin(), files.end());
  // Each file is opened beneath the root, never through a link on the way: a node may swap a
  // directory for a link between the listing and the open (O_NOFOLLOW guards only the last
  // name), or a file for a FIFO, whose open would block (BeneathDir refuses anything but a
  // regular file, without blocking).
  ASSIGN_OR_RETURN(io::BeneathDir dir, io::BeneathDir::Open(root));
  *bytes = 0;
  for (const auto& rel : files) {
    std::string stream = "snapshot/" + rel;
    meta->add_files(rel);
    auto fd = dir.OpenFile(rel, O_RDONLY, 0);
    if (!fd.ok()) {
      return absl::Status(fd.status().code(), absl::StrCat("snapshot file '", dir.Describe(rel),
                                                           "': ", fd.status().message()));
    }
    FileSource source(*fd, req.cancelled);  // closes it
    struct stat st;
    if (fstat(*fd, &st) != 0) {
      return absl::UnavailableError(
          absl::StrCat("stat '", dir.Describe(rel), "': ", strerror(errno)));
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    *bytes += static_cast<int64_t>(size);
    auto old = before.find(stream);
    if (old != before.end() && ImmutableRepositoryFile(rel) && old->second->size() == size) {
      RETURN_IF_ERROR(req.writer->AddStreamFrom(stream, *old->second));
      continue;
    }
    RETURN_IF_ERROR(req.writer->AddStream(stream, &source));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BackupResult> OpenSearchDriver::Backup(const BackupRequest& req) {
  ASSIGN_OR_RETURN(Node node, ReachableNode(*req.cluster, req.cancelled));
  OsClient* os = node.client.get();
  ASSIGN_OR_RETURN(std::string root, RepositoryPath(node, *req.cluster));
  mdb_backup::v1::OpenSearchBackup meta;
  meta.set_repository(Option(*node.host, "repository", "mdb-backup"));
  meta.set_snapshot(SnapshotName(req.backup_id));
  meta.set_version(node.version);
  const std::string repo_path = "/_snapshot/" + meta.repository();
  RETURN_IF_ERROR(EnsureRepository(os, meta.repository(), root));
  // The facts a drill checks against: counts taken just before and just after the snapshot,
  // kept for the indices that took no write in between (a failure to count is no failure of
  // the backup: it only has fewer facts).
  auto counted_before = DocumentCounts(os);
  // 1. The snapshot. Indexing goes on meanwhile: each shard is copied as of the moment its
  // snapshot starts (OpenSearch's own guarantee).
  Json body = {{"indices", "*"}, {"include_global_state", true}, {"ignore_unavailable", false}};
  ASSIGN_OR_RETURN(Json created,
                   os->Ok("PUT", repo_path + "/" + meta.snapshot() + "?wait_for_completion=true",
                          "taking the snapshot", body, kLongCall));
  const Json snap = GetNode(created, "/snapshot");
  if (GetStr(snap, "/state") != "SUCCESS") {
    // Do not leave a failed snapshot behind in the cluster's repository.
    (void)os->Call("DELETE", repo_path + "/" + meta.snapshot());
    return absl::FailedPreconditionError(
        absl::StrCat("opensearch ", os->address(), ": snapshot ended in state ",
                     GetStr(snap, "/state", "?"), ": ", GetNode(snap, "/failures").dump()));
  }
  meta.set_snapshot_uuid(GetStr(snap, "/uuid"));
  meta.set_start_unix_ms(GetInt(snap, "/start_time_in_millis"));
  meta.set_end_unix_ms(GetInt(snap, "/end_time_in_millis"));
  meta.set_shards(static_cast<int32_t>(GetInt(snap, "/shards/total")));
  std::vector<std::string> indices;
  if (Json list = GetNode(snap, "/indices"); list.is_array()) {
    for (const auto& i : list) {
      if (i.is_string()) indices.push_back(i.get<std::string>());
    }
  }
  std::sort(indices.begin(), indices.end());
  for (const auto& i : indices) meta.add_indices(i);
  if (auto counted_after = counted_before.ok() ? DocumentCounts(os) : counted_before;
      counted_after.ok()) {
    for (const auto& i : indices) {
      auto b = counted_before->find(i), a = counted_after->find(i);
      if (b != counted_before->end() && a != counted_after->end() && b->second.docs >= 0 &&
          a->second.docs == b->second.docs && a->second.writes == b->second.writes) {
        (*meta.mutable_documents())[i] = b->second.docs;
      }
    }
  }
  ASSIGN_OR_RETURN(Json status, os->Ok("GET", repo_path + "/" + meta.snapshot() + "/_status",
                                       "reading the snapshot's status"));
  const Json stats = GetNode(status, "/snapshots/0/stats");
  meta.set_snapshot_total_bytes(GetInt(stats, "/total/size_in_bytes"));
  meta.set_snapshot_incremental_bytes(GetInt(stats, "/incremental/size_in_bytes"));
  if (req.cancelled && req.cancelled->load()) return absl::CancelledError("backup cancelled");
  // 2. One snapshot left in the cluster's repository: ours, the base of the next one.
  RETURN_IF_ERROR(PruneSnapshots(os, meta.repository(), meta.snapshot()));
  // 3. Its files into our repository.
  int64_t files_bytes = 0;
  RETURN_IF_ERROR(CopyRepository(root, req, &meta, &files_bytes));

  BackupResult result;
  for (const auto& shard : req.cluster->shards) result.shard_names.push_back(shard.name);
  // The API lists the first 100 indices (its contract's bound) and counts them all.
  yandex::cloud::mdb::opensearch::v1::Backup api;
  for (size_t i = 0; i < indices.size() && i < 100; ++i) api.add_indices(indices[i]);
  api.set_indices_total(static_cast<int64_t>(indices.size()));
  api.set_opensearch_version(node.version);
  result.engine_fields.PackFrom(api);
  result.data_size = meta.snapshot_total_bytes();
  // A restore stages the files in the target's snapshot directory, then OpenSearch copies the
  // indices' files out of them: both are on disk at the end of the restore.
  result.restore_size = files_bytes + meta.snapshot_total_bytes();
  result.metadata = meta.SerializeAsString();
  return result;
}

}  // namespace mdb::engine::opensearch
