// Writes that stay beneath a directory, whatever names and links the data being restored carries.
// Archives come from source servers and from repositories (an unencrypted bucket is writable by
// whoever holds its credentials), and restores run as root: a name with "..", an absolute name,
// or a symlink planted by an earlier entry must never make a write land outside the target.
//
// Every path is walked one component at a time from the root's descriptor with O_NOFOLLOW, so
// a symlink anywhere on the way (an archive's, or one already on disk) is refused rather than
// followed. openat2(RESOLVE_BENEATH) would do the same in one call, but refuses a symlink only at
// lookup time and is missing from older kernels and from glibc's wrappers; the walk costs a few
// openat calls per file and one parent directory is cached for the runs of files that archives
// keep together.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mdb::io {

// A relative name from untrusted data: not empty, not absolute, no "." or ".." component, no NUL,
// no empty component ("a//b"). InvalidArgument saying which rule, with the name (truncated).
absl::Status CheckRelativeName(std::string_view rel);

class BeneathDir {
 public:
  // Opens `root` (a trusted path from the operator; created with `mode` when missing).
  static absl::StatusOr<BeneathDir> Open(const std::string& root, mode_t mode = 0700);
  // Opens a directory this process has just made (mkdtemp) where others may write too: a link
  // put in its place is not followed, a directory of another owner is refused.
  static absl::StatusOr<BeneathDir> OpenOwn(const std::string& path);
  BeneathDir(BeneathDir&& other) noexcept;
  BeneathDir& operator=(BeneathDir&& other) noexcept;
  BeneathDir(const BeneathDir&) = delete;
  BeneathDir& operator=(const BeneathDir&) = delete;
  ~BeneathDir();

  // Creates the directory `rel` and any missing parents (parents 0700, `rel` itself `mode`; an
  // existing directory gets `mode`). Returns a descriptor of it (the caller closes it).
  absl::StatusOr<int> MakeDirs(std::string_view rel, mode_t mode);
  // Opens the file `rel` with `flags` (O_WRONLY, O_CREAT, O_TRUNC...; O_NOFOLLOW and O_CLOEXEC are
  // added), creating missing parents. A symlink at `rel` or on the way is refused
  // (FailedPrecondition), and so is anything but a regular file, or, for writing, a file with
  // other hard links; with O_EXCL an existing `rel` is AlreadyExists.
  absl::StatusOr<int> OpenFile(std::string_view rel, int flags, mode_t mode);
  // Creates the symlink `rel` -> `target` (the target is stored, never resolved here); an existing
  // non-directory entry at `rel` is replaced. Later writes through it are refused like any other.
  absl::Status Symlink(std::string_view rel, const std::string& target);
  // chown of `rel` itself, never of what a link points at.
  absl::Status Chown(std::string_view rel, int uid, int gid);
  // Removes the file, link or empty directory `rel`.
  absl::Status Remove(std::string_view rel);
  // Removes `rel` and everything under it, through descriptors only (a directory swapped for a
  // link meanwhile is never followed: the link is what goes). OK when it is not there.
  absl::Status RemoveTree(std::string_view rel);

  const std::string& path() const { return root_; }
  int fd() const { return fd_; }  // of the root, owned by this object
  // `rel` as a path under the root, for messages.
  std::string Describe(std::string_view rel) const;

 private:
  BeneathDir(std::string root, int fd) : root_(std::move(root)), fd_(fd) {}
  // The directory that holds `rel`'s last component (created when `create`), and that component.
  // The returned descriptor belongs to this object (valid until the next call).
  absl::StatusOr<std::pair<int, std::string>> Parent(std::string_view rel, bool create);
  void Close();

  std::string root_;
  int fd_ = -1;
  std::string cached_parent_;  // relative path of the cached parent directory
  int cached_fd_ = -1;
};

}  // namespace mdb::io
