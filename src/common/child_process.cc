#include "common/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

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

// Starts the child with stdout/stderr on `output_fd` when >= 0, else on options.output_file
// opened by the child itself.
absl::StatusOr<std::unique_ptr<Child>> StartChild(const std::vector<std::string>& argv,
                                                  const ChildOptions& options, int output_fd) {
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
  auto overridden = [&options](std::string_view entry) {
    for (const auto& e : options.env) {
      if (entry.substr(0, entry.find('=') + 1) == std::string_view(e).substr(0, e.find('=') + 1)) {
        return true;
      }
    }
    return false;
  };
  for (char** e = environ; e && *e; ++e) {
    if (!Secret(*e) && !overridden(*e)) env.push_back(*e);
  }
  for (const auto& e : options.env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  const char* out_path = options.output_file.empty() ? "/dev/null" : options.output_file.c_str();
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in < 0) return absl::ResourceExhaustedError(absl::StrCat("open: ", strerror(errno)));
  const rlim_t memory = static_cast<rlim_t>(options.memory_mb) << 20;
  const char* dir = options.work_dir.empty() ? nullptr : options.work_dir.c_str();
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  const int max_fd = files.rlim_cur == RLIM_INFINITY || files.rlim_cur > 65536
                         ? 65536
                         : static_cast<int>(files.rlim_cur);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(in);
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    rlimit none{0, 0};
    setrlimit(RLIMIT_CORE, &none);
    if (memory > 0) {
      rlimit as{memory, memory};
      setrlimit(RLIMIT_AS, &as);
    }
    if (options.gid >= 0 && (setgroups(0, nullptr) != 0 || setgid(options.gid) != 0)) _exit(126);
    if (options.uid >= 0 && setuid(options.uid) != 0) _exit(126);
    // After the user switch (which clears it): the child dies with the thread that started it,
    // so a service killed with -9 leaves no server holding restored data.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);
    int out = output_fd;
    if (out < 0) out = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
    if (out < 0) _exit(125);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    // Nothing of ours beyond the three: descriptors other threads opened without O_CLOEXEC
    // (password files, sockets) must not reach a server running restored data.
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
#endif
    {
      for (int fd = 3; fd < max_fd; ++fd) close(fd);
    }
    if (dir && chdir(dir) != 0) _exit(126);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also from here: whichever runs first, the group exists before a kill
  close(in);
  return std::unique_ptr<Child>(new Child(pid));
}

absl::StatusOr<std::unique_ptr<Child>> Child::Start(const std::vector<std::string>& argv,
                                                    const ChildOptions& options) {
  return StartChild(argv, options, -1);
}

Child::~Child() { Stop(); }

bool Child::Running(int* exit_code) {
  if (!exited_) {
    siginfo_t info{};
    // WNOWAIT: seen, not reaped. Until Stop reaps it the leader's pid, and so its process
    // group's id, cannot be given to another process: killing the group stays safe.
    if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_) {
      exited_ = true;
      exit_code_ = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    }
  }
  if (exited_ && exit_code) *exit_code = exit_code_;
  return !exited_;
}

void Child::Stop(absl::Duration grace) {
  if (reaped_) return;
  if (Running()) {
    kill(-pid_, SIGTERM);
    for (absl::Time until = absl::Now() + grace; Running() && absl::Now() < until;) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  kill(-pid_, SIGKILL);  // the leader, or what it left behind in its group
  int status = 0;
  if (waitpid(pid_, &status, 0) == pid_ && !exited_) exit_code_ = ExitCodeOf(status);
  exited_ = reaped_ = true;
}

absl::StatusOr<RunResult> RunToEnd(const std::vector<std::string>& argv,
                                   const ChildOptions& options, absl::Duration timeout,
                                   const std::atomic<bool>* cancelled, size_t max_output) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("pipe: ", strerror(errno)));
  }
  auto child = StartChild(argv, options, fds[1]);
  close(fds[1]);
  if (!child.ok()) {
    close(fds[0]);
    return child.status();
  }
  RunResult result;
  absl::Status ended = absl::OkStatus();
  // Read as it comes (a full pipe would stall the child), keeping the last max_output bytes.
  auto drain = [&](int wait_ms) {
    pollfd p{.fd = fds[0], .events = POLLIN, .revents = 0};
    if (poll(&p, 1, wait_ms) <= 0) return false;
    char buf[16384];
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) return false;
    result.output.append(buf, static_cast<size_t>(n));
    if (result.output.size() > 2 * max_output) {
      result.output.erase(0, result.output.size() - max_output);
    }
    return true;
  };
  for (absl::Time until = absl::Now() + timeout; (*child)->Running(&result.exit_code);) {
    if (cancelled && cancelled->load()) {
      ended = absl::CancelledError(absl::StrCat("cancelled while '", argv[0], "' ran"));
      break;
    }
    if (absl::Now() > until) {
      ended = absl::DeadlineExceededError(
          absl::StrCat("'", argv[0], "' did not finish in ", absl::FormatDuration(timeout)));
      break;
    }
    drain(20);
  }
  (*child)->Stop(absl::Seconds(2));
  while (drain(0)) {
  }
  close(fds[0]);
  if (!ended.ok()) return ended;
  if (result.output.size() > max_output) {
    result.output.erase(0, result.output.size() - max_output);
  }
  return result;
}

absl::Status MakeOwnedDir(const std::string& path, int uid, int gid) {
  if (mkdir(path.c_str(), 0700) != 0) {
    return absl::UnavailableError(absl::StrCat("mkdir '", path, "': ", strerror(errno)));
  }
  if (uid < 0) return absl::OkStatus();
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || fchown(fd, uid, gid) != 0) {
    absl::Status st = absl::PermissionDeniedError(
        absl::StrCat("handing '", path, "' to the drill user: ", strerror(errno)));
    if (fd >= 0) close(fd);
    return st;
  }
  close(fd);
  return absl::OkStatus();
}

absl::Status WriteNewFile(const std::string& path, std::string_view content, int uid, int gid) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("create '", path, "': ", strerror(errno)));
  }
  bool ok = write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  if (ok && uid >= 0) ok = fchown(fd, uid, gid) == 0;
  const int err = errno;
  close(fd);
  if (!ok) return absl::UnavailableError(absl::StrCat("write '", path, "': ", strerror(err)));
  return absl::OkStatus();
}

std::string ReadTail(const std::string& path, size_t n) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat st {};
  std::string out;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    const off_t from = st.st_size > static_cast<off_t>(n) ? st.st_size - static_cast<off_t>(n) : 0;
    out.resize(n);
    ssize_t got = pread(fd, out.data(), n, from);
    out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  }
  close(fd);
  return out;
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
