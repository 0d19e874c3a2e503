// The throwaway servers of a `local` drill that listen on 127.0.0.1 (Redis, MongoDB, OpenSearch):
// one per shard of the backup, each in a directory of its own under the drill's, on a free port,
// started before the restore and waited for here. An engine says how to start one and how to
// tell that it answers.
#pragma once

#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/child_process.h"
#include "common/status.h"
#include "engine/engine.h"

namespace mdb::engine {

class LoopbackScratch : public Scratch {
 public:
  LoopbackScratch(ScratchRequest req, common::Engine engine, std::vector<std::string> shards,
                  absl::Duration start_timeout)
      : req_(std::move(req)), start_timeout_(start_timeout) {
    target_.id = "drill";
    target_.engine = engine;
    target_.restore_target = true;
    for (auto& name : shards) target_.shards.push_back({.name = std::move(name), .hosts = {}});
  }
  ~LoopbackScratch() override {
    for (auto& c : servers_) c->Stop(absl::Seconds(10));
  }
  const common::ClusterConfig& target() const override { return target_; }

  absl::Status BeforeRestore() override {
    for (size_t i = 0; i < target_.shards.size(); ++i) RETURN_IF_ERROR(StartOne(i));
    return absl::OkStatus();
  }

 protected:
  // The server binary: the configured one (a file, or `name` in a configured directory), else
  // `fallback`.
  std::string Binary(const char* name, const char* fallback) const {
    std::string binary = req_.binary.empty() ? fallback : req_.binary;
    struct stat st;
    if (stat(binary.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) binary = binary + "/" + name;
    return binary;
  }
  const ScratchRequest& request() const { return req_; }

  // The command line of shard `shard`'s server on `port` (try `attempt`), its directory `dir`
  // made already (owned by the drill user), and the host entry that reaches it.
  struct Launch {
    std::vector<std::string> argv;
    common::HostConfig host;
    std::vector<std::string> env = {};  // "NAME=value" for the server (common::ChildOptions::env)
  };
  virtual absl::StatusOr<Launch> Prepare(size_t shard, const std::string& dir, int port,
                                         int attempt) = 0;
  // Whether the server at `host` answers (one short try).
  virtual bool Answers(const common::HostConfig& host) = 0;

 private:
  absl::Status StartOne(size_t i) {
    const std::string dir = absl::StrCat(req_.dir, "/shard", i);
    RETURN_IF_ERROR(common::MakeOwnedDir(dir, req_.process.uid, req_.process.gid));
    absl::Status last;
    // Another process may take the free port before the server binds it: a few ports.
    for (int attempt = 0; attempt < 3; ++attempt) {
      ASSIGN_OR_RETURN(int port, common::FreeLoopbackPort());
      ASSIGN_OR_RETURN(Launch launch, Prepare(i, dir, port, attempt));
      common::ChildOptions opts = req_.process;
      opts.output_file = absl::StrCat(dir, "/server-", attempt, ".log");
      opts.work_dir = dir;
      opts.env = launch.env;
      ASSIGN_OR_RETURN(auto child, common::Child::Start(launch.argv, opts));
      last = WaitReady(child.get(), launch.host, opts.output_file);
      if (last.ok()) {
        servers_.push_back(std::move(child));
        target_.shards[i].hosts.push_back(std::move(launch.host));
        return absl::OkStatus();
      }
      child->Stop(absl::Seconds(2));
      if (absl::IsCancelled(last)) return last;
    }
    return last;
  }

  absl::Status WaitReady(common::Child* child, const common::HostConfig& host,
                         const std::string& log) {
    for (absl::Time until = absl::Now() + start_timeout_;;) {
      if (req_.cancelled && req_.cancelled->load()) {
        return absl::CancelledError("drill cancelled while its server started");
      }
      int code = 0;
      if (!child->Running(&code)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the drill's server exited (", code, ") before it was ready: ", common::ReadTail(log)));
      }
      if (Answers(host)) return absl::OkStatus();
      if (absl::Now() > until) {
        return absl::DeadlineExceededError(
            absl::StrCat("the drill's server did not answer in time: ", common::ReadTail(log)));
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  ScratchRequest req_;
  absl::Duration start_timeout_;
  common::ClusterConfig target_;
  std::vector<std::unique_ptr<common::Child>> servers_;
};

}  // namespace mdb::engine
