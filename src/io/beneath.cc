#include "io/beneath.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace mdb::io {
namespace {

std::string Shown(std::string_view name) {
  std::string s(name.substr(0, 200));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  return name.size() > 200 ? s + "..." : s;
}

}  // namespace

absl::Status CheckRelativeName(std::string_view rel) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("name '", Shown(rel), "' ", std::string(why)));
  };
  if (rel.empty()) return bad("is empty");
  if (rel.find('\0') != std::string_view::npos) return bad("holds a NUL byte");
  if (rel.front() == '/') return bad("is absolute");
  for (absl::string_view part : absl::StrSplit(absl::string_view(rel.data(), rel.size()), '/')) {
    if (part.empty()) return bad("has an empty component");
    if (part == "." || part == "..") return bad("has a '.' or '..' component");
  }
  return absl::OkStatus();
}

absl::StatusOr<BeneathDir> BeneathDir::Open(const std::string& root, mode_t mode) {
  if (mkdir(root.c_str(), mode) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("create '", root, "': ", strerror(errno)));
  }
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("open '", root, "': ", strerror(errno)));
  return BeneathDir(root, fd);
}

absl::StatusOr<BeneathDir> BeneathDir::OpenOwn(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("open '", path, "': ", strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_uid != geteuid()) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("'", path, "' was replaced by a directory of another owner"));
  }
  return BeneathDir(path, fd);
}

BeneathDir::BeneathDir(BeneathDir&& other) noexcept { *this = std::move(other); }

BeneathDir& BeneathDir::operator=(BeneathDir&& other) noexcept {
  if (this != &other) {
    Close();
    root_ = std::move(other.root_);
    fd_ = other.fd_;
    cached_parent_ = std::move(other.cached_parent_);
    cached_fd_ = other.cached_fd_;
    other.fd_ = other.cached_fd_ = -1;
  }
  return *this;
}

BeneathDir::~BeneathDir() { Close(); }

void BeneathDir::Close() {
  if (cached_fd_ >= 0) close(cached_fd_);
  if (fd_ >= 0) close(fd_);
  fd_ = cached_fd_ = -1;
  cached_parent_.clear();
}

std::string BeneathDir::Describe(std::string_view rel) const { return root_ + "/" + Shown(rel); }

absl::StatusOr<std::pair<int, std::string>> BeneathDir::Parent(std::string_view rel, bool create) {
  if (absl::Status st = CheckRelativeName(rel); !st.ok()) return st;
  size_t slash = rel.rfind('/');
  if (slash == std::string_view::npos) return std::make_pair(fd_, std::string(rel));
  std::string dir(rel.substr(0, slash));
  std::string base(rel.substr(slash + 1));
  if (cached_fd_ >= 0 && dir == cached_parent_) return std::make_pair(cached_fd_, base);
  int cur = fd_;
  std::string walked;
  for (absl::string_view part : absl::StrSplit(dir, '/')) {
    std::string name(part);
    absl::StrAppend(&walked, walked.empty() ? "" : "/", name);
    int next = openat(cur, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      if (mkdirat(cur, name.c_str(), 0700) != 0 && errno != EEXIST) {
        int err = errno;
        if (cur != fd_) close(cur);
        return absl::UnavailableError(
            absl::StrCat("create '", Describe(walked), "': ", strerror(err)));
      }
      next = openat(cur, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    int err = errno;
    struct stat st {};
    bool link = next < 0 && fstatat(cur, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode);
    if (cur != fd_) close(cur);
    if (next < 0) {
      if (link) {
        return absl::FailedPreconditionError(absl::StrCat(
            "'", Describe(walked), "' is a symbolic link: refusing to write through it"));
      }
      return absl::UnavailableError(absl::StrCat("open '", Describe(walked), "': ", strerror(err)));
    }
    cur = next;
  }
  if (cached_fd_ >= 0) close(cached_fd_);
  cached_fd_ = cur;
  cached_parent_ = dir;
  return std::make_pair(cur, base);
}

absl::StatusOr<int> BeneathDir::MakeDirs(std::string_view rel, mode_t mode) {
  auto parent = Parent(rel, true);
  if (!parent.ok()) return parent.status();
  auto [pfd, base] = *parent;
  if (mkdirat(pfd, base.c_str(), mode) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("create '", Describe(rel), "': ", strerror(errno)));
  }
  int fd = openat(pfd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", Describe(rel), "' exists and is not a directory"));
    }
    return absl::UnavailableError(absl::StrCat("open '", Describe(rel), "': ", strerror(errno)));
  }
  if (fchmod(fd, mode) != 0) {
    int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("chmod '", Describe(rel), "': ", strerror(err)));
  }
  return fd;
}

absl::StatusOr<int> BeneathDir::OpenFile(std::string_view rel, int flags, mode_t mode) {
  auto parent = Parent(rel, (flags & O_CREAT) != 0);
  if (!parent.ok()) return parent.status();
  auto [pfd, base] = *parent;
  // O_NONBLOCK: a FIFO planted at `rel` must not hang the open; it is refused below. O_TRUNC only
  // after the checks: a hard link planted at `rel` must be refused before its file is emptied.
  int fd =
      openat(pfd, base.c_str(), (flags & ~O_TRUNC) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
  if (fd >= 0) {
    struct stat st {};
    bool writes = (flags & (O_WRONLY | O_RDWR)) != 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (writes && st.st_nlink > 1)) {
      close(fd);
      return absl::FailedPreconditionError(absl::StrCat(
          "'", Describe(rel), "' is not a regular file of its own (a device, pipe or hard link)"));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if ((flags & O_TRUNC) && ftruncate(fd, 0) != 0) {
      int err = errno;
      close(fd);
      return absl::UnavailableError(
          absl::StrCat("truncate '", Describe(rel), "': ", strerror(err)));
    }
  }
  if (fd < 0) {
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", Describe(rel), "' is a symbolic link: refusing to write through it"));
    }
    if (errno == EEXIST)
      return absl::AlreadyExistsError(absl::StrCat("'", Describe(rel), "' exists"));
    return absl::UnavailableError(absl::StrCat("open '", Describe(rel), "': ", strerror(errno)));
  }
  return fd;
}

absl::Status BeneathDir::Symlink(std::string_view rel, const std::string& target) {
  auto parent = Parent(rel, true);
  if (!parent.ok()) return parent.status();
  auto [pfd, base] = *parent;
  struct stat st {};
  if (fstatat(pfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", Describe(rel), "' is a directory; a link cannot replace it"));
    }
    if (unlinkat(pfd, base.c_str(), 0) != 0) {
      return absl::UnavailableError(
          absl::StrCat("remove '", Describe(rel), "': ", strerror(errno)));
    }
  }
  if (symlinkat(target.c_str(), pfd, base.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("symlink '", Describe(rel), "': ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status BeneathDir::Chown(std::string_view rel, int uid, int gid) {
  auto parent = Parent(rel, false);
  if (!parent.ok()) return parent.status();
  auto [pfd, base] = *parent;
  if (fchownat(pfd, base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("chown '", Describe(rel), "': ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status BeneathDir::Remove(std::string_view rel) {
  auto parent = Parent(rel, false);
  if (!parent.ok()) return parent.status();
  auto [pfd, base] = *parent;
  if (unlinkat(pfd, base.c_str(), 0) != 0 &&
      (errno != EISDIR || unlinkat(pfd, base.c_str(), AT_REMOVEDIR) != 0)) {
    return absl::UnavailableError(absl::StrCat("remove '", Describe(rel), "': ", strerror(errno)));
  }
  return absl::OkStatus();
}

namespace {

// Empties the directory `dir` (a descriptor, consumed), entry by entry relative to descriptors
// only: a name swapped for a link meanwhile is unlinked, never followed.
absl::Status EmptyDir(int dir, const std::string& shown) {
  DIR* d = fdopendir(dir);
  if (!d) {
    close(dir);
    return absl::UnavailableError(absl::StrCat("open '", shown, "': ", strerror(errno)));
  }
  absl::Status st;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  for (const auto& name : names) {
    if (unlinkat(dirfd(d), name.c_str(), 0) == 0 || errno == ENOENT) continue;
    if (errno != EISDIR && errno != EPERM) {
      st = absl::UnavailableError(
          absl::StrCat("remove '", shown, "/", name, "': ", strerror(errno)));
      break;
    }
    int sub = openat(dirfd(d), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) {
      st = absl::UnavailableError(absl::StrCat("open '", shown, "/", name, "': ", strerror(errno)));
      break;
    }
    st = EmptyDir(sub, shown + "/" + name);
    if (st.ok() && unlinkat(dirfd(d), name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      st = absl::UnavailableError(
          absl::StrCat("remove '", shown, "/", name, "': ", strerror(errno)));
    }
    if (!st.ok()) break;
  }
  closedir(d);
  return st;
}

}  // namespace

absl::Status BeneathDir::RemoveTree(std::string_view rel) {
  auto parent = Parent(rel, false);
  if (absl::IsUnavailable(parent.status())) return absl::OkStatus();  // a parent is gone
  if (!parent.ok()) return parent.status();
  auto [pfd, base] = *parent;
  int dir = openat(pfd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    if (unlinkat(pfd, base.c_str(), 0) == 0) return absl::OkStatus();  // a file or a link
    return absl::UnavailableError(absl::StrCat("remove '", Describe(rel), "': ", strerror(errno)));
  }
  if (absl::Status st = EmptyDir(dir, Describe(rel)); !st.ok()) return st;
  if (unlinkat(pfd, base.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return absl::UnavailableError(absl::StrCat("remove '", Describe(rel), "': ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace mdb::io
