// The tar format is small enough to read by hand (512-byte headers, octal sizes, ustar prefix for
// long names), and doing so lets the restore stream from the repository to disk without a
// temporary file; PostgreSQL writes only regular files, directories and symlinks.
#include "engine/greenplum/tar_extract.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

absl::Status CheckArchiveLink(const std::string& name, const std::string& target) {
  // PostgreSQL's base backups hold symbolic links only for tablespaces (pg_tblspc/<oid>); any
  // other link is someone else's archive, and a link is the first half of a write outside the
  // target.
  std::vector<std::string> parts = absl::StrSplit(name, '/');
  uint32_t oid;
  // A tablespace lives at an absolute path; a relative target could make the link point at
  // itself or back into the data directory.
  if (parts.size() == 2 && parts[0] == "pg_tblspc" && absl::SimpleAtoi(parts[1], &oid) &&
      !target.empty() && target[0] == '/') {
    return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("archive: symbolic link '", name.substr(0, 200), "' -> '", target.substr(0, 200),
                   "' outside pg_tblspc/; PostgreSQL base backups have none"));
}

absl::Status Hostile(absl::Status st) {
  // A name or a link that the target refuses is the archive's fault: data loss, not a bad request.
  if (st.code() != absl::StatusCode::kInvalidArgument &&
      st.code() != absl::StatusCode::kFailedPrecondition) {
    return st;
  }
  return absl::DataLossError(absl::StrCat("archive refused: ", st.message()));
}

absl::Status CreateArchiveLinks(io::BeneathDir* target, const std::vector<ArchiveLink>& links,
                                int owner_uid, int owner_gid) {
  for (const auto& [name, to] : links) {
    RETURN_IF_ERROR(Hostile(target->Symlink(name, to)));
    if (owner_uid >= 0) RETURN_IF_ERROR(target->Chown(name, owner_uid, owner_gid));
  }
  return absl::OkStatus();
}

absl::Status MakeArchiveDir(io::BeneathDir* target, const std::string& name, mode_t mode,
                            int owner_uid, int owner_gid) {
  auto fd = target->MakeDirs(name, mode ? mode : 0700);
  if (!fd.ok()) return Hostile(fd.status());
  absl::Status st;
  if (owner_uid >= 0 && fchown(*fd, owner_uid, owner_gid) != 0) {
    st = absl::PermissionDeniedError(
        absl::StrCat("chown '", target->Describe(name), "': ", strerror(errno)));
  }
  close(*fd);
  return st;
}

absl::Status ExtractTar(io::ByteSource* source, const std::string& dir, int owner_uid,
                        int owner_gid) {
  ASSIGN_OR_RETURN(io::BeneathDir target, io::BeneathDir::Open(dir));
  std::vector<ArchiveLink> links;  // created last, when no entry can be written through them
  std::string buf(1 << 20, '\0');
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<TarEntry> e, ReadTarHeader(source));
    if (!e) return CreateArchiveLinks(&target, links, owner_uid, owner_gid);
    // Permission bits only: no set-id or sticky bits from an archive.
    mode_t mode = e->mode & 0777;
    if (e->type == '5') {
      if (e->name.empty() || e->name == ".") continue;  // the root itself
      RETURN_IF_ERROR(MakeArchiveDir(&target, e->name, mode, owner_uid, owner_gid));
    } else if (e->type == '2') {
      RETURN_IF_ERROR(CheckArchiveLink(e->name, e->link));
      links.push_back({e->name, e->link});
    } else if (e->type == '0') {
      auto fd = target.OpenFile(e->name, O_WRONLY | O_CREAT | O_TRUNC, mode ? mode : 0600);
      if (!fd.ok()) return Hostile(fd.status());
      const std::string path = target.Describe(e->name);
      uint64_t left = e->size;
      absl::Status st;
      while (st.ok() && left > 0) {
        auto n = io::ReadFull(source, buf.data(), std::min<uint64_t>(left, buf.size()));
        if (!n.ok())
          st = n.status();
        else if (*n == 0)
          st = absl::DataLossError(absl::StrCat("tar: '", e->name, "' is truncated"));
        else
          st = WriteAt(*fd, buf.data(), *n, e->size - left, path), left -= *n;
      }
      if (st.ok() && owner_uid >= 0 && fchown(*fd, owner_uid, owner_gid) != 0) {
        st = absl::PermissionDeniedError(absl::StrCat("chown '", path, "': ", strerror(errno)));
      }
      close(*fd);  // made durable all at once at the end (SyncTree)
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
    }
  }
}

}  // namespace mdb::engine::greenplum
