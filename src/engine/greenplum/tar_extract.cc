// The tar format is small enough to read by hand (512-byte headers, octal sizes, ustar prefix for
// long names), and doing so lets the restore stream from the repository to disk without a
// temporary file; PostgreSQL writes only regular files, directories and symlinks.
#include "engine/greenplum/tar_extract.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace mdb::engine::greenplum {
namespace {

uint64_t Octal(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; ++i) v = v * 8 + (p[i] - '0');
  return v;
}

std::string Field(const char* p, size_t n) { return std::string(p, strnlen(p, n)); }

}  // namespace

absl::Status WriteAt(int fd, const char* p, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return absl::UnavailableError(absl::StrCat("write '", path, "': ", strerror(errno)));
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return absl::OkStatus();
}

absl::Status SyncTree(const std::string& dir) {
  // One syncfs for the whole restored tree rather than an fsync per file: thousands of small
  // files each waiting for the disk made restores slower than the data's size explains. The
  // restore only counts as done after this returns, so a crash before it redoes the restore.
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("open '", dir, "': ", strerror(errno)));
  int rc = syncfs(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return absl::UnavailableError(absl::StrCat("syncfs '", dir, "': ", strerror(err)));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<TarEntry>> ReadTarHeader(io::ByteSource* source) {
  char header[512];
  ASSIGN_OR_RETURN(size_t got, io::ReadFull(source, header, sizeof(header)));
  if (got == 0 || (got == sizeof(header) && header[0] == '\0')) {
    return std::optional<TarEntry>();  // end of stream, or the end-of-archive block
  }
  if (got != sizeof(header)) return absl::DataLossError("tar: truncated header");
  TarEntry e;
  e.name = Field(header, 100);
  std::string prefix = Field(header + 345, 155);
  if (!prefix.empty()) e.name = prefix + "/" + e.name;
  e.size = Octal(header + 124, 12);
  e.mode = static_cast<int>(Octal(header + 100, 8)) & 07777;
  e.type = header[156] == '\0' ? '0' : header[156];
  e.link = Field(header + 157, 100);
  std::filesystem::path rel = std::filesystem::path(e.name).lexically_normal();
  if (rel.is_absolute() || (!rel.empty() && *rel.begin() == "..")) {
    return absl::DataLossError(absl::StrCat("tar: entry '", e.name, "' escapes the target"));
  }
  e.name = rel.string();
  if (!e.name.empty() && e.name.back() == '/') e.name.pop_back();
  return std::optional<TarEntry>(std::move(e));
}

absl::Status SkipTarPadding(io::ByteSource* source, uint64_t size) {
  char pad[512];
  size_t n = (512 - size % 512) % 512;
  if (n == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(size_t got, io::ReadFull(source, pad, n));
  return got == n ? absl::OkStatus() : absl::DataLossError("tar: truncated padding");
}

absl::Status ExtractTar(io::ByteSource* source, const std::string& dir, int owner_uid,
                        int owner_gid) {
  namespace fs = std::filesystem;
  std::string buf(1 << 20, '\0');
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<TarEntry> e, ReadTarHeader(source));
    if (!e) return absl::OkStatus();
    std::string path = (fs::path(dir) / e->name).string();
    std::error_code ec;
    if (e->type == '5') {
      fs::create_directories(path, ec);
      chmod(path.c_str(), e->mode ? e->mode : 0700);
    } else if (e->type == '2') {
      fs::create_directories(fs::path(path).parent_path(), ec);
      fs::remove(path, ec);
      if (symlink(e->link.c_str(), path.c_str()) != 0) {
        return absl::UnavailableError(absl::StrCat("symlink '", path, "': ", strerror(errno)));
      }
      if (owner_uid >= 0) (void)lchown(path.c_str(), owner_uid, owner_gid);
      continue;
    } else if (e->type == '0') {
      fs::create_directories(fs::path(path).parent_path(), ec);
      int fd =
          open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, e->mode ? e->mode : 0600);
      if (fd < 0)
        return absl::UnavailableError(absl::StrCat("create '", path, "': ", strerror(errno)));
      uint64_t left = e->size;
      absl::Status st;
      while (st.ok() && left > 0) {
        auto n = io::ReadFull(source, buf.data(), std::min<uint64_t>(left, buf.size()));
        if (!n.ok())
          st = n.status();
        else if (*n == 0)
          st = absl::DataLossError(absl::StrCat("tar: '", e->name, "' is truncated"));
        else
          st = WriteAt(fd, buf.data(), *n, e->size - left, path), left -= *n;
      }
      close(fd);  // made durable all at once at the end (SyncTree)
      RETURN_IF_ERROR(st);
      RETURN_IF_ERROR(SkipTarPadding(source, e->size));
    } else {
      // Other entry types (pax headers...) are skipped with their data.
      uint64_t skip = (e->size + 511) / 512 * 512;
      while (skip > 0) {
        ASSIGN_OR_RETURN(size_t n,
                         io::ReadFull(source, buf.data(), std::min<uint64_t>(skip, buf.size())));
        if (n == 0) return absl::DataLossError("tar: truncated");
        skip -= n;
      }
      continue;
    }
    if (owner_uid >= 0) (void)chown(path.c_str(), owner_uid, owner_gid);
  }
}

}  // namespace mdb::engine::greenplum
