// Restore = stage, register read-only, restore, clean up. The staged copy is removed and the
// temporary repository unregistered whatever the outcome: the restored indices do not need them.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "engine/opensearch/opensearch_common.h"
#include "engine/opensearch/opensearch_engine.h"
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

absl::Status Stage(const RestoreRequest& req, const mdb_backup::v1::OpenSearchBackup& meta,
                   const std::string& dir) {
  for (const auto& rel : meta.files()) {
    if (req.cancelled && req.cancelled->load()) return absl::CancelledError("restore cancelled");
    if (rel.empty() || rel[0] == '/' || absl::StrContains(rel, "..")) {
      return absl::DataLossError(absl::StrCat("the backup names an unsafe file path '", rel, "'"));
    }
    fs::path path = fs::path(dir) / rel;
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec)
      return absl::UnavailableError(
          absl::StrCat("create '", path.parent_path().string(), "': ", ec.message()));
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::UnavailableError(
          absl::StrCat("create '", path.string(), "': ", strerror(errno)));
    }
    CountingSink sink(fd, req.bytes_done);
    absl::Status st = req.repository->RestoreStream(*req.manifest, "snapshot/" + rel, &sink);
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
  std::vector<std::string> indices;
  for (const auto& index : meta.indices()) {
    if (present.count(index)) {
      if (index[0] == '.') continue;
      return absl::FailedPreconditionError(absl::StrCat(
          "target cluster '", req.target->id, "' (", os->address(), ") already has index '", index,
          "'; restore into a fresh node or delete the index first"));
    }
    indices.push_back(index);
  }
  const std::string name = "mdb-restore-" + meta.snapshot().substr(4);
  const std::string dir = (fs::path(root) / name).string();
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("staging directory '", dir,
                     "' is not empty: another restore of this backup may be "
                     "running; remove it if not"));
  }
  absl::Status st = Stage(req, meta, dir);
  if (st.ok()) {
    Json repo = {{"type", "fs"}, {"settings", {{"location", dir}, {"readonly", true}}}};
    st = os->Ok("PUT", "/_snapshot/" + name, "registering the staged snapshot", repo).status();
  }
  if (st.ok() && !indices.empty()) {
    Json body = {{"indices", absl::StrJoin(indices, ",")},
                 {"include_global_state", false},
                 {"include_aliases", true}};
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
  fs::remove_all(dir, ec);
  return st;
}

}  // namespace mdb::engine::opensearch
