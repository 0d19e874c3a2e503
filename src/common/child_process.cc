#include "common/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

extern char** environ;

namespace mdb::common {
namespace {

// Names a child must not inherit: the service's storage credentials, libpq's defaults (a drill
// server's tools would otherwise connect where the operator's shell points), our own settings.
bool Secret(std::string_view entry) {
  for (std::string_view prefix : {"AWS_", "PG", "MDB_", "REDISCLI_AUTH"}) {
    if (entry.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Child>> Child::Start(const std::vector<std::string>& argv,
                                                    const ChildOptions& options) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return absl::InvalidArgumentError("a child process needs an absolute program path");
  }
  if (access(argv[0].c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run '", argv[0], "': ", strerror(errno)));
  }
  // Everything the child needs is prepared before fork: after it, in a threaded process, only
  // async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; e && *e; ++e) {
    if (!Secret(*e)) env.push_back(*e);
  }
  env.push_back(nullptr);
  int out = open(options.output_file.empty() ? "/dev/null" : options.output_file.c_str(),
                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open '", options.output_file, "': ", strerror(errno)));
  }
  if (options.uid >= 0 && fchown(out, options.uid, options.gid) != 0) {
    close(out);
    return absl::PermissionDeniedError(
        absl::StrCat("chown '", options.output_file, "': ", strerror(errno)));
  }
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const rlim_t memory = static_cast<rlim_t>(options.memory_mb) << 20;
  const char* dir = options.work_dir.empty() ? nullptr : options.work_dir.c_str();
  pid_t pid = fork();
  if (pid < 0) {
    close(out);
    if (in >= 0) close(in);
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    rlimit none{0, 0};
    setrlimit(RLIMIT_CORE, &none);
    if (memory > 0) {
      rlimit as{memory, memory};
      setrlimit(RLIMIT_AS, &as);
    }
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    if (options.gid >= 0 && (setgroups(0, nullptr) != 0 || setgid(options.gid) != 0)) _exit(126);
    if (options.uid >= 0 && setuid(options.uid) != 0) _exit(126);
    if (dir && chdir(dir) != 0) _exit(126);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also from here: whichever runs first, the group exists before a kill
  close(out);
  if (in >= 0) close(in);
  return std::unique_ptr<Child>(new Child(pid));
}

Child::~Child() { Stop(); }

bool Child::Running(int* exit_code) {
  if (!reaped_) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      exit_code_ = ExitCodeOf(status);
    }
  }
  if (reaped_ && exit_code) *exit_code = exit_code_;
  return !reaped_;
}

void Child::Stop(absl::Duration grace) {
  if (!Running()) {
    kill(-pid_, SIGKILL);  // what the leader left behind in its group
    return;
  }
  kill(-pid_, SIGTERM);
  for (absl::Time until = absl::Now() + grace; Running() && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  kill(-pid_, SIGKILL);
  if (!reaped_) {
    int status = 0;
    if (waitpid(pid_, &status, 0) == pid_) exit_code_ = ExitCodeOf(status);
    reaped_ = true;
  }
}

absl::StatusOr<RunResult> RunToEnd(const std::vector<std::string>& argv,
                                   const ChildOptions& options, absl::Duration timeout,
                                   const std::atomic<bool>* cancelled, size_t max_output) {
  if (options.output_file.empty()) {
    return absl::InvalidArgumentError("RunToEnd needs an output file");
  }
  ASSIGN_OR_RETURN(auto child, Child::Start(argv, options));
  RunResult result;
  absl::Status ended = absl::OkStatus();
  for (absl::Time until = absl::Now() + timeout; child->Running(&result.exit_code);) {
    if (cancelled && cancelled->load()) {
      ended = absl::CancelledError(absl::StrCat("cancelled while '", argv[0], "' ran"));
      break;
    }
    if (absl::Now() > until) {
      ended = absl::DeadlineExceededError(
          absl::StrCat("'", argv[0], "' did not finish in ", absl::FormatDuration(timeout)));
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  child->Stop(absl::Seconds(2));
  if (!ended.ok()) return ended;
  std::ifstream in(options.output_file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  result.output = ss.str();
  if (result.output.size() > max_output) {
    result.output = result.output.substr(result.output.size() - max_output);
  }
  return result;
}

absl::StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ResourceExhaustedError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("no free port on 127.0.0.1: ", strerror(errno)));
  }
  close(fd);
  return static_cast<int>(ntohs(a.sin_port));
}

absl::StatusOr<std::pair<int, int>> LookupUser(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return absl::NotFoundError(absl::StrCat("there is no OS user '", name, "'"));
  }
  return std::make_pair(static_cast<int>(pw.pw_uid), static_cast<int>(pw.pw_gid));
}

}  // namespace mdb::common
