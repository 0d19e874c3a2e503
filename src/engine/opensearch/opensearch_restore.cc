// Restore = stage, register read-only, restore, clean up. The staged copy is removed and the
// temporary repository unregistered whatever the outcome: the restored indices do not need them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/opensearch/opensearch_common.h"
#include "engine/opensearch/opensearch_engine.h"
#include "io/beneath.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::opensearch {
namespace {

namespace fs = std::filesystem;

// Counts restored bytes for progress while writing a file.
class CountingSink final : public io::ByteSink {
 public:
  CountingSink(int fd, std::atomic<int64_t>* done) : file_(fd), done_(done) {}
  absl::Status Write(std::string_view data) override {
    RETURN_IF_ERROR(file_.Write(data));
    if (done_) *done_ += static_cast<int64_t>(data.size());
    return absl::OkStatus();
  }
  absl::Status Close() override { return file_.Close(); }

 private:
  io::FdSink file_;
  std::atomic<int64_t>* done_;
};

// Stages the snapshot's files in `name` under `base` (repository_path). That directory is the
// nodes': they may write in it, so nothing is followed there (io::BeneathDir), and what is made
// stays the service's, given the directory's group with no access for others: the nodes read the
// staged files and can change none of them (the process' umask is 077).
absl::Status Stage(const RestoreRequest& req, const mdb_backup::v1::OpenSearchBackup& meta,
                   io::BeneathDir& base, const std::string& name) {
  struct stat owner {};
  if (fstat(base.fd(), &owner) != 0) {
    return absl::UnavailableError(absl::StrCat("stat '", base.path(), "': ", strerror(errno)));
  }
  std::set<std::string> made;
  auto make_dir = [&](const std::string& rel) -> absl::Status {
    if (!made.insert(rel).second) return absl::OkStatus();
    ASSIGN_OR_RETURN(int fd, base.MakeDirs(rel, 0750));
    const int rc = fchown(fd, -1, owner.st_gid);
    const int err = errno;
    close(fd);
    if (rc != 0 && err != EPERM) {
      return absl::UnavailableError(
          absl::StrCat("chgrp ", base.Describe(rel), ": ", strerror(err)));
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(make_dir(name));
  for (const auto& rel : meta.files()) {
    if (req.cancelled && req.cancelled->load()) return absl::CancelledError("restore cancelled");
    if (absl::Status ok = io::CheckRelativeName(rel); !ok.ok()) {
      return absl::DataLossError(
          absl::StrCat("the backup names an unsafe file path: ", ok.message()));
    }
    const std::string path = absl::StrCat(name, "/", rel);
    for (size_t slash = path.find('/', name.size() + 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      RETURN_IF_ERROR(make_dir(path.substr(0, slash)));
    }
    ASSIGN_OR_RETURN(int fd, base.OpenFile(path, O_WRONLY | O_CREAT | O_EXCL, 0640));
    absl::Status st;
    if (fchmod(fd, 0640) != 0 || (fchown(fd, -1, owner.st_gid) != 0 && errno != EPERM)) {
      st = absl::UnavailableError(
          absl::StrCat("chmod/chgrp ", base.Describe(path), ": ", strerror(errno)));
    }
    CountingSink sink(fd, req.bytes_done);
    if (st.ok()) st = req.repository->RestoreStream(*req.manifest, "snapshot/" + rel, &sink);
    if (st.ok()) st = sink.Close();
    close(fd);
    RETURN_IF_ERROR(st);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status OpenSearchDriver::Restore(const RestoreRequest& req) {
  mdb_backup::v1::OpenSearchBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  ASSIGN_OR_RETURN(Node node, ReachableNode(*req.target, req.cancelled));
  OsClient* os = node.client.get();
  ASSIGN_OR_RETURN(std::string root, RepositoryPath(node, *req.target));
  // The indices to restore: the user's. Dot-prefixed system indices that the fresh node already
  // has (it creates some itself) are left to it.
  ASSIGN_OR_RETURN(Json existing, os->Ok("GET", "/_cat/indices?format=json&expand_wildcards=all",
                                         "listing the target's indices"));
  std::set<std::string> present;
  if (existing.is_array()) {
    for (const auto& i : existing) present.insert(GetStr(i, "/index"));
  }
  mdb_backup::v1::OpenSearchRestoreOptions options;
  if (!options.ParseFromString(req.engine_options)) {
    return absl::InvalidArgumentError("restore_options could not be read");
  }
  ASSIGN_OR_RETURN(auto selected,
                   SelectIndices({meta.indices().begin(), meta.indices().end()}, options));
  std::vector<std::string> indices;
  std::set<std::string> names;  // what they are called on the target
  for (const auto& [index, renamed] : selected) {
    if (present.count(renamed)) {
      if (renamed[0] == '.' && renamed == index) continue;
      return absl::FailedPreconditionError(absl::StrCat(
          "target cluster '", req.target->id, "' (", os->address(), ") already has index '",
          renamed, "'; restore into a fresh node, delete the index first, or rename"));
    }
    if (!names.insert(renamed).second) {
      return absl::InvalidArgumentError(absl::StrCat("the rename gives two indices the name '",
                                                     renamed, "'; refine rename_pattern"));
    }
    indices.push_back(index);
  }
  if (meta.snapshot().size() <= 4) return absl::DataLossError("the backup names no snapshot");
  const std::string name = "mdb-restore-" + meta.snapshot().substr(4);
  if (absl::Status ok = io::CheckRelativeName(name); !ok.ok() || absl::StrContains(name, "/")) {
    return absl::DataLossError(absl::StrCat("the backup's snapshot name is unsafe: ", name));
  }
  const std::string dir = (fs::path(root) / name).string();
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("staging directory '", dir,
                     "' is not empty: another restore of this backup may be "
                     "running; remove it if not"));
  }
  ASSIGN_OR_RETURN(io::BeneathDir base, io::BeneathDir::Open(root, 0750));
  absl::Status st = Stage(req, meta, base, name);
  if (st.ok()) {
    Json repo = {{"type", "fs"}, {"settings", {{"location", dir}, {"readonly", true}}}};
    st = os->Ok("PUT", "/_snapshot/" + name, "registering the staged snapshot", repo).status();
  }
  if (st.ok() && (!indices.empty() || options.include_global_state())) {
    // The indices by name (none matches a pattern twice); aliases only with their indices'
    // own names (a renamed index's alias would point elsewhere).
    Json body = {{"indices", indices.empty() ? "-*" : absl::StrJoin(indices, ",")},
                 {"include_global_state", options.include_global_state()},
                 {"include_aliases", options.rename_pattern().empty()}};
    if (!options.rename_pattern().empty()) {
      body["rename_pattern"] = options.rename_pattern();
      body["rename_replacement"] = options.rename_replacement();
    }
    auto restored = os->Ok(
        "POST", "/_snapshot/" + name + "/" + meta.snapshot() + "/_restore?wait_for_completion=true",
        "restoring the snapshot", body, kLongCall);
    st = restored.status();
    if (st.ok()) {
      int64_t failed = GetInt(*restored, "/snapshot/shards/failed");
      if (failed > 0) {
        st = absl::DataLossError(absl::StrCat("opensearch ", os->address(), ": ", failed,
                                              " shards failed to restore: ", restored->dump()));
      }
    }
  }
  (void)os->Call("DELETE", "/_snapshot/" + name);
  // Through descriptors: the nodes may rename what is in their directory meanwhile.
  if (absl::Status removed = base.RemoveTree(name); !removed.ok()) {
    common::Log(common::LogLevel::kWarning, "opensearch",
                absl::StrCat("staged snapshot not removed: ", removed.message()));
  }
  return st;
}

}  // namespace mdb::engine::opensearch
