// Restore drills of MongoDB backups. `local`: one throwaway server per shard, of the configured
// MongoDB-protocol binary: `mongod` (a fresh --dbpath) or FerretDB (SQLite files), on 127.0.0.1.
// A scratch cluster is emptied (its user databases dropped) before and after. The check: the
// restore itself compared every collection's documents with the count and digest the backup
// recorded as it loaded them (mongo_restore.cc); the drill then finds every collection and view
// of the backup in the restored server.
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "engine/mongodb/mongo_conn.h"
#include "engine/mongodb/mongo_engine.h"
#include "engine/mongodb/mongo_util.h"

namespace mdb::engine::mongodb {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(60);

class MongoScratch final : public Scratch {
 public:
  MongoScratch(ScratchRequest req, const mdb_backup::v1::MongoBackup& meta) : req_(std::move(req)) {
    target_.id = "drill";
    target_.engine = common::Engine::MONGODB;
    target_.restore_target = true;
    for (const auto& s : meta.shards()) target_.shards.push_back({.name = s.name(), .hosts = {}});
  }
  ~MongoScratch() override {
    for (auto& c : servers_) c->Stop(absl::Seconds(10));
  }
  const common::ClusterConfig& target() const override { return target_; }

  absl::Status BeforeRestore() override {
    std::string binary = req_.binary.empty() ? "/usr/bin/mongod" : req_.binary;
    struct stat st;
    if (stat(binary.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) binary += "/mongod";
    for (size_t i = 0; i < target_.shards.size(); ++i) RETURN_IF_ERROR(StartOne(binary, i));
    return absl::OkStatus();
  }

 private:
  absl::Status StartOne(const std::string& binary, size_t i) {
    const std::string dir = absl::StrCat(req_.dir, "/shard", i);
    for (const std::string& d : {dir, dir + "/data", dir + "/state"}) {
      RETURN_IF_ERROR(common::MakeOwnedDir(d, req_.process.uid, req_.process.gid));
    }
    const bool ferretdb = absl::StrContains(binary.substr(binary.rfind('/') + 1), "ferretdb");
    absl::Status last;
    for (int attempt = 0; attempt < 3; ++attempt) {
      ASSIGN_OR_RETURN(int port, common::FreeLoopbackPort());
      std::vector<std::string> argv;
      if (ferretdb) {
        argv = {binary,
                "--handler=sqlite",
                "--sqlite-url=file:" + dir + "/data/",
                absl::StrCat("--listen-addr=127.0.0.1:", port),
                "--state-dir=" + dir + "/state",
                "--telemetry=disable",
                "--debug-addr=-",
                "--log-format=text"};
      } else {
        argv = {binary,      "--dbpath", dir + "/data",      "--bind_ip",
                "127.0.0.1", "--port",   absl::StrCat(port), "--nounixsocket"};
      }
      common::ChildOptions opts = req_.process;
      opts.output_file = absl::StrCat(dir, "/server-", attempt, ".log");
      opts.work_dir = dir;
      ASSIGN_OR_RETURN(auto child, common::Child::Start(argv, opts));
      common::HostConfig host{.address = absl::StrCat("127.0.0.1:", port), .options = {}};
      last = WaitReady(child.get(), host, opts.output_file);
      if (last.ok()) {
        servers_.push_back(std::move(child));
        target_.shards[i].hosts.push_back(std::move(host));
        return absl::OkStatus();
      }
      child->Stop(absl::Seconds(2));
      if (absl::IsCancelled(last)) return last;
    }
    return last;
  }

  absl::Status WaitReady(common::Child* child, const common::HostConfig& host,
                         const std::string& log) {
    for (absl::Time until = absl::Now() + kStartTimeout;;) {
      if (req_.cancelled && req_.cancelled->load()) {
        return absl::CancelledError("drill cancelled while its server started");
      }
      int code = 0;
      if (!child->Running(&code)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the drill's server exited (", code, ") before it was ready: ", common::ReadTail(log)));
      }
      if (auto conn = ConnectHost(host, absl::Seconds(2), req_.cancelled); conn.ok()) {
        if ((*conn)->Command("admin", R"({"ping": 1})").ok()) return absl::OkStatus();
      }
      if (absl::Now() > until) {
        return absl::DeadlineExceededError("the drill's server did not answer in time");
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  ScratchRequest req_;
  common::ClusterConfig target_;
  std::vector<std::unique_ptr<common::Child>> servers_;
};

// The names of the collections and views of `db` in the restored server.
absl::StatusOr<std::set<std::string>> CollectionNames(MongoConn* conn, const std::string& db) {
  ASSIGN_OR_RETURN(Bson reply, conn->Command(db, R"({"listCollections": 1, "nameOnly": true})"));
  std::set<std::string> out;
  Bson cursor, batch;
  if (!GetDocument(reply.get(), "cursor", &cursor) ||
      !GetDocument(cursor.get(), "firstBatch", &batch)) {
    return absl::DataLossError("unexpected listCollections reply");
  }
  bson_iter_t it;
  if (bson_iter_init(&it, batch.get())) {
    while (bson_iter_next(&it)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) continue;
      uint32_t len = 0;
      const uint8_t* data = nullptr;
      bson_iter_document(&it, &len, &data);
      bson_t doc;
      if (bson_init_static(&doc, data, len)) out.insert(GetString(&doc, "name"));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scratch>> MongoDriver::PrepareScratch(const ScratchRequest& req) {
  mdb_backup::v1::MongoBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  return std::make_unique<MongoScratch>(req, meta);
}

absl::Status MongoDriver::EmptyScratch(const common::ClusterConfig& scratch,
                                       const std::atomic<bool>* cancelled) {
  for (const auto& shard : scratch.shards) {
    if (shard.hosts.empty()) continue;
    ASSIGN_OR_RETURN(auto conn, ConnectHost(shard.hosts.front(), absl::Seconds(60), cancelled));
    ASSIGN_OR_RETURN(auto dbs, UserDatabases(conn.get()));
    for (const auto& db : dbs) {
      RETURN_IF_ERROR(conn->Command(db, R"({"dropDatabase": 1})").status());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<VerifyResult> MongoDriver::VerifyRestored(const VerifyRequest& req) {
  mdb_backup::v1::MongoBackup meta;
  if (!meta.ParseFromString(req.manifest->engine_metadata())) {
    return absl::DataLossError("the backup's metadata is damaged");
  }
  VerifyResult out;
  for (int i = 0; i < meta.shards_size() && static_cast<size_t>(i) < req.target->shards.size();
       ++i) {
    const auto& shard = meta.shards(i);
    ASSIGN_OR_RETURN(auto conn, ConnectHost(req.target->shards[i].hosts.front(), absl::Seconds(60),
                                            req.cancelled));
    std::map<std::string, std::set<std::string>> present;
    uint64_t documents = 0;
    int collections = 0;
    for (const auto& c : shard.collections()) {
      if (!present.count(c.db())) {
        ASSIGN_OR_RETURN(present[c.db()], CollectionNames(conn.get(), c.db()));
      }
      if (!present[c.db()].count(c.name())) {
        out.problems.push_back(absl::StrCat("shard '", shard.name(), "': ", c.type(), " ", c.db(),
                                            ".", c.name(), " is missing after the restore"));
      }
      ++collections;
      documents += c.documents();
    }
    out.checked.push_back(absl::StrCat(
        "shard '", shard.name(), "': ", collections, " collections and views present; ", documents,
        " documents matched the backup's counts and digests as they were loaded"));
  }
  return out;
}

}  // namespace mdb::engine::mongodb
