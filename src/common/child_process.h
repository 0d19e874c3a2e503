// Child processes the service starts itself: the throwaway database servers of a restore drill
// (ops/drills.h) and the checking tools run against them (pg_amcheck). Written by hand because
// no Debian library does fork/exec with a user switch, resource limits and a process group of
// its own; posix_spawn cannot change the user.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <string>
#include <string_view>
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
  // stdout and stderr appended here ("" : /dev/null). Opened by the child once it is the
  // child's user (never following a link), so that a file planted by that user is no lever
  // against us.
  std::string output_file;
  std::string work_dir;  // the child's working directory ("" : ours)
  // "NAME=value" entries added to the environment (replacing ours of the same name).
  std::vector<std::string> env;
};

// One started child, in a process group of its own. Destroying it stops the group.
class Child {
 public:
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  // Starts argv[0] (an absolute path) with `argv`; the environment is ours minus what names
  // credentials (AWS_*, PG*, MDB_*) plus `options.env`: a drill server needs none of ours.
  static absl::StatusOr<std::unique_ptr<Child>> Start(const std::vector<std::string>& argv,
                                                      const ChildOptions& options);

  // Whether it still runs; when it ended, `*exit_code` says how (128 + signal when killed).
  // An ended child is left unreaped until Stop: its process group cannot be reused meanwhile.
  bool Running(int* exit_code = nullptr);
  // SIGTERM to the group, then SIGKILL after `grace` (and to the group again once the leader
  // ended, for what it left behind); then reaps the leader. Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(10));
  pid_t pid() const { return pid_; }

 private:
  friend absl::StatusOr<std::unique_ptr<Child>> StartChild(const std::vector<std::string>& argv,
                                                           const ChildOptions& options,
                                                           int output_fd);
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool exited_ = false;  // seen ended (a zombie until reaped)
  bool reaped_ = false;
  int exit_code_ = -1;
};

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, the last `max_output` bytes
};

// Runs a command to its end (killed at `timeout` or when `cancelled` is set: DeadlineExceeded /
// Cancelled), its output read through a pipe (`options.output_file` is not used).
absl::StatusOr<RunResult> RunToEnd(const std::vector<std::string>& argv,
                                   const ChildOptions& options, absl::Duration timeout,
                                   const std::atomic<bool>* cancelled, size_t max_output = 16384);

// Files and directories the service makes for a child's user in a directory that user may write
// to: created new (O_EXCL, never through a link) and handed over by descriptor, so that a name
// swapped for a link in between cannot make root write or chown anything else.
absl::Status MakeOwnedDir(const std::string& path, int uid, int gid);
absl::Status WriteNewFile(const std::string& path, std::string_view content, int uid, int gid);
// The last `n` bytes of a regular file (not through a link at its name): a child's log, for a
// message.
std::string ReadTail(const std::string& path, size_t n = 800);

// A TCP port free on 127.0.0.1 at the time of the call, for a server about to be started (which
// fails to start, and is retried, in the rare case another process takes it first).
absl::StatusOr<int> FreeLoopbackPort();

// The uid and gid of OS user `name`; NotFound when there is none.
absl::StatusOr<std::pair<int, int>> LookupUser(const std::string& name);

}  // namespace mdb::common
