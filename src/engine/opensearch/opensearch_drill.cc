// Restore drills of OpenSearch backups. `local`: a single-node OpenSearch of the configured
// distribution (`bin/opensearch`), on 127.0.0.1 with the security plugin off, a heap of its own
// and a configuration directory of its own (the distribution's is not written to). Or a declared
// scratch cluster, whose non-system indices are deleted before and after. The check compares every
// restored index's documents with the count the backup recorded where the index held still
// during the snapshot.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "engine/loopback_scratch.h"
#include "engine/opensearch/opensearch_common.h"
#include "engine/opensearch/opensearch_engine.h"
#include "mdb_backup/v1/engines.pb.h"

namespace mdb::engine::opensearch {
namespace {

namespace fs = std::filesystem;

// FailedPrecondition when `home` is a package install (deb, rpm) whose bin/opensearch sources an
// environment file that sets OPENSEARCH_PATH_CONF: the drill's own configuration would be
// overridden by the production one.
absl::Status RefusePackageEnvironment(const fs::path& home) {
  std::ifstream script(home / "bin" / "opensearch-env");
  std::stringstream text;
  text << script.rdbuf();
  for (const char* env : {"/etc/default/opensearch", "/etc/sysconfig/opensearch"}) {
    if (text.str().find(env) == std::string::npos) continue;
    std::ifstream file(env);
    for (std::string line; std::getline(file, line);) {
      if (line.rfind("OPENSEARCH_PATH_CONF=", 0) == 0 ||
          line.rfind("export OPENSEARCH_PATH_CONF=", 0) == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the OpenSearch at '", home.string(), "' is a package install whose bin/opensearch ",
            "takes its configuration from ", env, " (", line, "), not from the drill's: set ",
            "server.drills.binaries.opensearch to an unpacked tar distribution of the same "
            "version"));
      }
    }
  }
  return absl::OkStatus();
}

class OpenSearchScratch final : public LoopbackScratch {
 public:
  // `heap_mb`: the JVM's heap. The address-space limit of the other engines' servers is not
  // applied: a JVM reserves far more address space than it uses, and would not start.
  OpenSearchScratch(ScratchRequest req, int heap_mb)
      : LoopbackScratch(WithoutAddressLimit(std::move(req)), common::Engine::OPENSEARCH, {"drill"},
                        absl::Minutes(3)),
        repo_(request().dir + "/repo"),
        heap_mb_(heap_mb) {}
  ~OpenSearchScratch() override {
    // The staging root is ours (the node only reads it): removed by us, before the drill user
    // empties what is theirs.
    std::error_code ec;
    fs::remove_all(repo_, ec);
  }

  absl::Status BeforeRestore() override {
    // path.repo: the restore stages the backup's snapshot files here, as the service's user,
    // giving them this directory's group (the drill user's): the node reads them (a read-only
    // repository) and cannot write here.
    const int gid = request().process.gid;
    if (mkdir(repo_.c_str(), 0750) != 0 || chmod(repo_.c_str(), 0750) != 0 ||
        (gid >= 0 && chown(repo_.c_str(), geteuid(), gid) != 0)) {
      return absl::UnavailableError(absl::StrCat("making '", repo_, "': ", strerror(errno)));
    }
    return LoopbackScratch::BeforeRestore();
  }

 private:
  static ScratchRequest WithoutAddressLimit(ScratchRequest req) {
    req.process.memory_mb = 0;
    return req;
  }

  absl::StatusOr<Launch> Prepare(size_t shard, const std::string& dir, int port,
                                 int attempt) override {
    const std::string binary = Binary("bin/opensearch", "/usr/share/opensearch/bin/opensearch");
    ASSIGN_OR_RETURN(int transport, common::FreeLoopbackPort());
    const int uid = request().process.uid, gid = request().process.gid;
    const std::string config = absl::StrCat(dir, "/config-", attempt);
    const std::string data = absl::StrCat(dir, "/data-", attempt);
    const std::string logs = absl::StrCat(dir, "/logs-", attempt);
    const std::string tmp = absl::StrCat(dir, "/tmp-", attempt);
    for (const auto& d : {config, data, logs, tmp})
      RETURN_IF_ERROR(common::MakeOwnedDir(d, uid, gid));
    RETURN_IF_ERROR(common::WriteNewFile(
        config + "/opensearch.yml",
        absl::StrCat("cluster.name: mdb-drill\nnode.name: drill\ndiscovery.type: single-node\n",
                     "network.host: 127.0.0.1\nhttp.port: ", port, "\ntransport.port: ", transport,
                     "\npath.data: ", data, "\npath.logs: ", logs, "\npath.repo: [\"", repo_,
                     "\"]\nplugins.security.disabled: true\nbootstrap.memory_lock: false\n",
                     "cluster.routing.allocation.disk.threshold_enabled: false\n"),
        uid, gid));
    // A package's bin/opensearch reads its configuration directory from an environment file
    // (/etc/default/opensearch), whatever the drill says: it would start on production's.
    const fs::path home = fs::path(binary).parent_path().parent_path();
    RETURN_IF_ERROR(RefusePackageEnvironment(home));
    // The JVM's options are ours (the distribution's send GC logs and heap dumps to its own
    // directories); its logging configuration writes under path.logs, the drill's.
    RETURN_IF_ERROR(common::WriteNewFile(
        config + "/jvm.options",
        absl::StrCat("-Xms", heap_mb_, "m\n-Xmx", heap_mb_, "m\n-XX:+UseG1GC\n",
                     "-XX:-HeapDumpOnOutOfMemoryError\n-XX:ErrorFile=", logs,
                     "/hs_err_pid%p.log\n-Xlog:disable\n-Djava.io.tmpdir=", tmp,
                     "\n-Dlog4j2.formatMsgNoLookups=true\n"),
        uid, gid));
    for (const fs::path& from : {home / "config", fs::path("/etc/opensearch")}) {
      std::ifstream in(from / "log4j2.properties", std::ios::binary);
      if (!in) continue;
      std::stringstream content;
      content << in.rdbuf();
      RETURN_IF_ERROR(common::WriteNewFile(config + "/log4j2.properties", content.str(), uid, gid));
      break;
    }
    return Launch{
        .argv = {binary},
        .host = {.address = absl::StrCat("127.0.0.1:", port),
                 .options = {{"repository_path", repo_}}},
        .env = {"OPENSEARCH_PATH_CONF=" + config, "OPENSEARCH_TMPDIR=" + tmp,
                absl::StrCat("OPENSEARCH_JAVA_OPTS=-Xms", heap_mb_, "m -Xmx", heap_mb_, "m"),
                // Options of the service's environment that every JVM would take up.
                "JAVA_TOOL_OPTIONS=", "_JAVA_OPTIONS=", "JDK_JAVA_OPTIONS="}};
  }

  bool Answers(const common::HostConfig& host) override {
    auto client = OsClient::Connect(host);
    if (!client.ok()) return false;
    auto health = (*client)->Call("GET", "/_cluster/health", nullptr, 2);
    if (!health.ok() || health->status != 200) return false;
    const std::string status = GetStr(health->body, "/status");
    return status == "green" || status == "yellow";
  }

  const std::string repo_;
  const int heap_mb_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Scratch>> OpenSearchDriver::PrepareScratch(
    const ScratchRequest& req) {
  // Half of the drill's memory for the heap (the rest: the JVM's own and the page cache Lucene
  // reads through), 512 MB without a limit.
  const int heap_mb = req.process.memory_mb > 0 ? std::max(256, req.process.memory_mb / 2) : 512;
  return std::make_unique<OpenSearchScratch>(req, heap_mb);
}

absl::Status OpenSearchDriver::EmptyScratch(const common::ClusterConfig& scratch,
                                            const std::atomic<bool>* cancelled) {
  ASSIGN_OR_RETURN(Node node, ReachableNode(scratch, cancelled));
  ASSIGN_OR_RETURN(Json list, node.client->Ok("GET", "/_cat/indices?format=json&h=index",
                                              "listing the scratch cluster's indices"));
  std::vector<std::string> user;
  if (list.is_array()) {
    for (const auto& i : list) {
      std::string name = GetStr(i, "/index");
      if (!name.empty() && name[0] != '.') user.push_back(name);  // the node's own stay
    }
  }
  // In batches: a URL of every index at once could pass any server's line limit.
  for (size_t i = 0; i < user.size(); i += 50) {
    std::vector<std::string> batch(user.begin() + i, user.begin() + std::min(user.size(), i + 50));
    RETURN_IF_ERROR(node.client
                        ->Ok("DELETE", "/" + absl::StrJoin(batch, ","),
                             "deleting the scratch cluster's indices")
                        .status());
  }
  return absl::OkStatus();
}

absl::StatusOr<VerifyResult> OpenSearchDriver::VerifyRestored(const VerifyRequest& req) {
  mdb_backup::v1::OpenSearchBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  ASSIGN_OR_RETURN(Node node, ReachableNode(*req.target, req.cancelled));
  ASSIGN_OR_RETURN(auto counts, DocumentCounts(node.client.get()));
  VerifyResult out;
  int64_t documents = 0;
  int checked = 0, unrecorded = 0;
  for (const auto& index : meta.indices()) {
    if (index[0] == '.') continue;  // system indices are not restored (the node has its own)
    auto want = meta.documents().find(index);
    auto got = counts.find(index);
    if (got == counts.end()) {
      out.problems.push_back(absl::StrCat("index '", index, "' is missing after the restore"));
      continue;
    }
    if (want == meta.documents().end()) {
      ++unrecorded;
      continue;
    }
    if (got->second.docs != want->second) {
      out.problems.push_back(absl::StrCat("index '", index, "': ", got->second.docs,
                                          " documents restored, the backup recorded ",
                                          want->second));
      continue;
    }
    ++checked;
    documents += got->second.docs;
  }
  out.checked.push_back(
      absl::StrCat(checked, " indices with ", documents, " documents as the backup recorded"));
  if (unrecorded > 0) {
    out.checked.push_back(absl::StrCat(unrecorded,
                                       " indices present, not counted (written to during the "
                                       "snapshot, or a backup of an older version)"));
  }
  return out;
}

}  // namespace mdb::engine::opensearch
