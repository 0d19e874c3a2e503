// POSIX driver. Durability follows the usual recipe (write tmp, fsync, rename, fsync dir): the
// rename is the atomic publish, the directory fsync makes the rename itself survive power loss.
#include "storage/posix/posix_storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "io/direct.h"

namespace mdb::storage {
namespace {

namespace fs = std::filesystem;

absl::Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = absl::StrCat(what, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  // UNAVAILABLE rather than RESOURCE_EXHAUSTED (HTTP 429, a client's quota): space is the
  // operator's to free, and the work can be retried then.
  if (err == ENOSPC || err == EDQUOT) {
    return absl::UnavailableError(absl::StrCat(msg, " (the file system holding it is full)"));
  }
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(msg);
  return absl::UnavailableError(msg);
}

// Objects from this size on (packs) are written with O_DIRECT; manifests, indexes and locks,
// small and read back soon, through the cache.
constexpr size_t kDirectFrom = 1 << 20;

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("write '", path, "'"));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const fs::path& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open dir '", dir.string(), "'"));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoStatus(err, absl::StrCat("fsync dir '", dir.string(), "'"));
  return absl::OkStatus();
}

// Creates `base`/`rel` and its missing parents below `base` with mode 0700: a repository's
// directories are for its owner only, whatever the umask (its objects are 0600).
absl::Status MakePrivateDirs(fs::path cur, const fs::path& rel) {
  for (const auto& part : rel) {
    cur /= part;
    if (mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("create '", cur.string(), "'"));
    }
  }
  return absl::OkStatus();
}

// A new object in a temporary file beside its key, renamed over it at Commit: the rename is the
// atomic publish, the fsyncs before it and of the directory after make it durable.
class PosixObjectWriter final : public ObjectWriter {
 public:
  static absl::StatusOr<std::unique_ptr<PosixObjectWriter>> Start(const fs::path& root,
                                                                  const std::string& key,
                                                                  bool direct) {
    RETURN_IF_ERROR(ValidateKey(key));
    RETURN_IF_ERROR(MakePrivateDirs(root, fs::path(key).parent_path()));
    fs::path path = root / key;
    fs::path tmp =
        path.parent_path() / absl::StrCat(path.filename().string(), ".tmp-", common::NewId());
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create '", tmp.string(), "'"));
    return std::unique_ptr<PosixObjectWriter>(new PosixObjectWriter(fd, path, tmp, direct));
  }
  ~PosixObjectWriter() override {
    if (fd_ >= 0) close(fd_);
    if (!published_) unlink(tmp_.c_str());
  }

  absl::Status Append(std::string_view data) override {
    if (fd_ < 0) return absl::FailedPreconditionError("the object is already committed");
    if (!failed_.ok()) return failed_;
    failed_ = sink_ ? sink_->Write(data) : WriteAll(fd_, data, tmp_.string());
    return failed_;
  }

  absl::Status Commit() override {
    if (fd_ < 0) return absl::FailedPreconditionError("the object is already committed");
    if (!failed_.ok()) return failed_;  // a part is missing: never renamed into place
    absl::Status st;
    if (sink_) {
      st = sink_->Close();  // the tail, then fsync
    } else if (fsync(fd_) != 0) {
      st = ErrnoStatus(errno, absl::StrCat("fsync '", tmp_.string(), "'"));
    }
    close(fd_);
    fd_ = -1;
    if (st.ok() && rename(tmp_.c_str(), path_.c_str()) != 0) {
      st = ErrnoStatus(errno, absl::StrCat("rename to '", path_.string(), "'"));
    }
    if (!st.ok()) return st;
    published_ = true;
    return FsyncDir(path_.parent_path());
  }

 private:
  PosixObjectWriter(int fd, fs::path path, fs::path tmp, bool direct)
      : fd_(fd), path_(std::move(path)), tmp_(std::move(tmp)) {
    // Packs are written once and rarely read back: around the page cache (io/direct.h), they
    // neither evict the host's working set (often the database's) nor pay the copy into cold
    // cache pages, 22% of a Redis backup's CPU on the bench machine (BENCHMARKS.md).
    if (direct) sink_ = std::make_unique<io::DirectFileSink>(fd_, tmp_.string());
  }

  int fd_;
  fs::path path_, tmp_;
  std::unique_ptr<io::DirectFileSink> sink_;  // objects of kDirectFrom bytes or more
  absl::Status failed_;                       // the first failed Append: the writer is spent
  bool published_ = false;
};

class PosixStorage final : public Storage {
 public:
  explicit PosixStorage(fs::path root) : root_(std::move(root)) {}

  absl::Status Put(const std::string& key, std::string_view data) override {
    ASSIGN_OR_RETURN(auto writer, PosixObjectWriter::Start(root_, key, data.size() >= kDirectFrom));
    RETURN_IF_ERROR(writer->Append(data));
    return writer->Commit();
  }

  absl::StatusOr<std::unique_ptr<ObjectWriter>> StartPut(const std::string& key,
                                                         size_t size_hint) override {
    ASSIGN_OR_RETURN(auto writer, PosixObjectWriter::Start(root_, key, size_hint >= kDirectFrom));
    return std::unique_ptr<ObjectWriter>(std::move(writer));
  }

  absl::StatusOr<std::string> Get(const std::string& key) override {
    ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
    return GetRange(key, 0, info.size);
  }

  absl::StatusOr<std::string> GetRange(const std::string& key, uint64_t offset,
                                       uint64_t length) override {
    RETURN_IF_ERROR(ValidateKey(key));
    fs::path path = root_ / key;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open '", path.string(), "'"));
    struct stat st;
    if (fstat(fd, &st) != 0 || offset > static_cast<uint64_t>(st.st_size) ||
        length > static_cast<uint64_t>(st.st_size) - offset) {
      close(fd);
      return absl::OutOfRangeError(absl::StrCat("range ", offset, "+", length, " is outside '",
                                                path.string(), "' (", st.st_size, " bytes)"));
    }
    std::string out(length, '\0');
    size_t done = 0;
    while (done < length) {
      ssize_t n = pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = n < 0 ? errno : EIO;
        close(fd);
        return ErrnoStatus(err, absl::StrCat("read '", path.string(), "'"));
      }
      done += static_cast<size_t>(n);
    }
    close(fd);
    return out;
  }

  absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    std::error_code ec;
    // Walk only the directory that can hold the prefix, not the whole tree.
    size_t slash = prefix.rfind('/');
    fs::path start = slash == std::string::npos ? root_ : root_ / prefix.substr(0, slash);
    if (!fs::exists(start, ec)) return out;
    for (auto it = fs::recursive_directory_iterator(start, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      std::string key = fs::relative(it->path(), root_, ec).string();
      if (key.rfind(prefix, 0) != 0 || key.find(".tmp-") != std::string::npos) continue;
      struct stat st;
      if (stat(it->path().c_str(), &st) != 0) continue;  // removed meanwhile
      out.push_back(
          {.key = key,
           .size = static_cast<uint64_t>(st.st_size),
           .modified = absl::FromTimeT(st.st_mtim.tv_sec) + absl::Nanoseconds(st.st_mtim.tv_nsec)});
    }
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return ErrnoStatus(ec.value(), absl::StrCat("list '", start.string(), "'"));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return out;
  }

  absl::StatusOr<ObjectInfo> Stat(const std::string& key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    fs::path path = root_ / key;
    struct stat st;
    if (stat(path.c_str(), &st) != 0)
      return ErrnoStatus(errno, absl::StrCat("stat '", path.string(), "'"));
    return ObjectInfo{
        .key = key,
        .size = static_cast<uint64_t>(st.st_size),
        .modified = absl::FromTimeT(st.st_mtim.tv_sec) + absl::Nanoseconds(st.st_mtim.tv_nsec)};
  }

  absl::Status Delete(const std::string& key) override {
    RETURN_IF_ERROR(ValidateKey(key));
    fs::path path = root_ / key;
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("delete '", path.string(), "'"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int> RemoveIncomplete(absl::Duration older_than) override {
    int removed = 0;
    std::error_code ec;
    absl::Time cutoff = absl::Now() - older_than;
    for (auto it = fs::recursive_directory_iterator(root_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->path().filename().string().find(".tmp-") == std::string::npos) continue;
      struct stat st;
      if (stat(it->path().c_str(), &st) != 0 || absl::FromTimeT(st.st_mtim.tv_sec) > cutoff) {
        continue;
      }
      if (unlink(it->path().c_str()) == 0) ++removed;
    }
    return removed;
  }

  std::string Describe() const override { return "posix:" + root_.string(); }

 private:
  fs::path root_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Storage>> OpenPosixStorage(const std::string& root) {
  RETURN_IF_ERROR(MakePrivateDirs(fs::path(), root));
  return std::make_unique<PosixStorage>(fs::absolute(root));
}

}  // namespace mdb::storage
