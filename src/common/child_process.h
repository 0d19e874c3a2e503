// Child processes the service starts itself: the throwaway database servers of a restore drill
// (ops/drills.h) and the checking tools run against them (pg_amcheck). Written by hand because
// no Debian library does fork/exec with a user switch, resource limits and a process group of
// its own; posix_spawn cannot change the user.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mdb::common {

struct ChildOptions {
  // Run as this user and group (-1: ours). Servers such as PostgreSQL refuse to run as root.
  int uid = -1;
  int gid = -1;
  // Address space (RLIMIT_AS) in MiB; 0: no limit. Core dumps are always off: a crashing
  // drill server must not write a copy of the restored data to disk outside its directory.
  int memory_mb = 0;
  std::string output_file;  // stdout and stderr appended here ("" : /dev/null)
  std::string work_dir;     // the child's working directory ("" : ours)
};

// One started child, in a process group of its own. Destroying it stops the group.
class Child {
 public:
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  // Starts argv[0] (an absolute path) with `argv`; the environment is ours minus what names
  // credentials (AWS_*, PG*, MDB_*), plus nothing: a drill server needs none of it.
  static absl::StatusOr<std::unique_ptr<Child>> Start(const std::vector<std::string>& argv,
                                                      const ChildOptions& options);

  // Whether it still runs; when it ended, `*exit_code` says how (128 + signal when killed).
  bool Running(int* exit_code = nullptr);
  // SIGTERM to the group, then SIGKILL after `grace`; waits until the child is reaped. Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(10));
  pid_t pid() const { return pid_; }

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool reaped_ = false;
  int exit_code_ = -1;
};

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, the last `max_output` bytes
};

// Runs a command to its end (killed at `timeout` or when `cancelled` is set: DeadlineExceeded /
// Cancelled), capturing its output through `options.output_file` (required).
absl::StatusOr<RunResult> RunToEnd(const std::vector<std::string>& argv,
                                   const ChildOptions& options, absl::Duration timeout,
                                   const std::atomic<bool>* cancelled, size_t max_output = 16384);

// A TCP port free on 127.0.0.1 at the time of the call, for a server about to be started (which
// fails to start, and is retried, in the rare case another process takes it first).
absl::StatusOr<int> FreeLoopbackPort();

// The uid and gid of OS user `name`; NotFound when there is none.
absl::StatusOr<std::pair<int, int>> LookupUser(const std::string& name);

}  // namespace mdb::common
