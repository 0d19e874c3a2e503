// Why a format of our own and not tar: a tar header states an entry's size before its data, and
// the size of a file's changed pages is known only after reading the whole file (up to 1 GiB),
// which must not be held in memory. Records with a terminator need no size up front.
#include "engine/greenplum/page_archive.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "engine/greenplum/tar_extract.h"
#include "io/write_behind.h"

namespace mdb::engine::greenplum {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "MDBPGARC1\n";
constexpr uint32_t kPage = 8192;
constexpr uint32_t kEndOfPages = 0xFFFFFFFF;
// Pages (whole files) or stored page entries (paged files) between two marks
// (io::ByteSink::Mark) inside a file's record: the repository cuts chunks there
// (Chunking::kAtMarks), so a chunk of a large file holds the same pages in every backup.
constexpr uint64_t kPagesPerMark = 128;
constexpr uint64_t kMarkBytes = kPagesPerMark * 8192;

// Whether a file's record starts at a mark: always from 1 MiB up; a smaller file with a chance
// of its record's size in MiB, decided by a hash of its name. A run of small (or empty) files is
// then cut at the same files in every backup, about every MiB, whatever was added or removed
// before them (a mark at every file would cut by count from the last cut, and never realign
// after a new file).
bool MarksItsRecord(const std::string& name, uint64_t size) {
  if (size >= kMarkBytes) return true;
  const uint64_t record = size + 15 + name.size();  // type, name length, name, mode, size
  // FNV-1a 64, then MurmurHash3's finalizer (FNV alone barely moves its middle bits for a
  // different last character: "base/5/20000" and "base/5/20001"). Fixed here, so the choice is.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
  h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdULL;
  h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h % kMarkBytes < record;
}

// Buffers small writes into ~1 MiB pieces for the sink.
class Out {
 public:
  explicit Out(io::ByteSink* sink) : sink_(sink) { buf_.reserve(kRoom); }
  void Raw(const char* p, size_t n) { buf_.append(p, n); }
  template <typename T>
  void Int(T v) {
    for (size_t i = 0; i < sizeof(T); ++i) buf_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void Str(const std::string& s) {
    Int<uint16_t>(static_cast<uint16_t>(s.size()));
    Raw(s.data(), s.size());
  }
  absl::Status MaybeFlush() { return buf_.size() >= kFull ? Flush() : absl::OkStatus(); }
  // A place after everything written so far where a chunk may (or must) end.
  absl::Status Mark(io::Boundary boundary) {
    RETURN_IF_ERROR(Flush());
    sink_->Mark(boundary);
    return absl::OkStatus();
  }
  absl::Status Flush() {
    if (buf_.empty()) return absl::OkStatus();
    // A buffer of half a MiB or more (an incremental's pages, runs of small files' records) is
    // handed over, not copied; less is copied, so that no pipe holds a megabyte of capacity for
    // a record's header.
    if (buf_.size() < kFull / 2) {
      absl::Status st = sink_->Write(buf_);
      buf_.clear();
      return st;
    }
    std::string full = std::move(buf_);
    buf_ = std::string();
    buf_.reserve(kRoom);
    return sink_->WriteOwned(std::move(full));
  }

 private:
  // MaybeFlush hands over at kFull; kRoom adds what a page, its number and a record's header (a
  // name of up to 64 KiB) bring to a buffer just below it: only a link record with two long
  // names grows it (one copy).
  static constexpr size_t kFull = 1 << 20, kRoom = kFull + kPage + (64 << 10) + 32;
  io::ByteSink* sink_;
  std::string buf_;
};

class In {
 public:
  explicit In(io::ByteSource* source) : source_(source) {}
  absl::Status Exact(char* p, size_t n) {
    ASSIGN_OR_RETURN(size_t got, io::ReadFull(source_, p, n));
    return got == n ? absl::OkStatus() : absl::DataLossError("archive: truncated");
  }
  template <typename T>
  absl::StatusOr<T> Int() {
    unsigned char b[sizeof(T)];
    RETURN_IF_ERROR(Exact(reinterpret_cast<char*>(b), sizeof(T)));
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(b[i]) << (8 * i);
    return v;
  }
  // Up to `n` of the next bytes, at least one: a view into the source where it holds them
  // (a Pipe: the restore's bytes are not copied once more on their way to the file; Release
  // after use), else `n` bytes read into `buf`.
  absl::StatusOr<std::string_view> Next(char* buf, size_t n) {
    auto view = source_->Peek(n);
    if (view.ok()) {
      if (view->empty()) return absl::DataLossError("archive: truncated");
      peeked_ = view->size();
      return *view;
    }
    if (!absl::IsUnimplemented(view.status())) return view.status();
    RETURN_IF_ERROR(Exact(buf, n));
    return std::string_view(buf, n);
  }
  void Release() {
    if (peeked_ > 0) source_->Consume(peeked_);
    peeked_ = 0;
  }
  absl::StatusOr<std::string> Str() {
    ASSIGN_OR_RETURN(uint16_t n, Int<uint16_t>());
    std::string s(n, '\0');
    RETURN_IF_ERROR(Exact(s.data(), n));
    return s;
  }

 private:
  io::ByteSource* source_;
  size_t peeked_ = 0;
};

// pd_lsn, the first 8 bytes of every page: the high half, then the low half, in host order.
Lsn PageLsn(const char* page) {
  uint32_t hi, lo;
  memcpy(&hi, page, 4);
  memcpy(&lo, page + 4, 4);
  return (static_cast<Lsn>(hi) << 32) | lo;
}

absl::Status CheckPath(const std::string& path) {
  fs::path rel = fs::path(path).lexically_normal();
  if (path.empty() || rel.is_absolute() || *rel.begin() == "..") {
    return absl::DataLossError(absl::StrCat("archive: path '", path, "' escapes the target"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsRelationFile(const std::string& path) {
  std::vector<std::string> parts = absl::StrSplit(path, '/');
  bool under =
      (parts.size() == 3 && parts[0] == "base") || (parts.size() == 2 && parts[0] == "global");
  if (!under) return false;
  const std::string& name = parts.back();
  // <relfilenode>[_fsm|_vm|_init][.<segment>]
  size_t i = 0;
  while (i < name.size() && isdigit(static_cast<unsigned char>(name[i]))) ++i;
  if (i == 0) return false;
  std::string rest = name.substr(i);
  for (const char* fork : {"_fsm", "_vm", "_init"}) {
    if (rest.rfind(fork, 0) == 0) {
      rest = rest.substr(strlen(fork));
      break;
    }
  }
  if (rest.empty()) return true;
  if (rest[0] != '.' || rest.size() == 1) return false;
  for (size_t k = 1; k < rest.size(); ++k) {
    if (!isdigit(static_cast<unsigned char>(rest[k]))) return false;
  }
  return true;
}

std::string RelationOf(const std::string& path) {
  if (!IsRelationFile(path)) return "";
  size_t slash = path.rfind('/');
  size_t end = path.find_first_of("._", slash + 1);
  return end == std::string::npos ? path : path.substr(0, end);
}

absl::Status WriteArchive(io::ByteSource* tar, const FileSizes* parent, Lsn threshold,
                          io::ByteSink* out_sink, FileSizes* files, ArchiveStats* stats,
                          const std::set<std::string>* whole, size_t max_files) {
  Out out(out_sink);
  out.Raw(kMagic.data(), kMagic.size());
  uint64_t name_bytes = 0;  // of the names in `files`
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<TarEntry> e, ReadTarHeader(tar));
    if (!e) break;
    // Ten million files is a data directory of some three million tables; their names average
    // 64 bytes at most (real ones ~25: "base/16384/2619_fsm"). A stream of headers without end
    // stops here, with the list at ~1.5 GB, instead of at the OOM killer. Directories are
    // written through and not kept.
    if ((e->type == '0' || e->type == '2') && !files->contains(e->name)) {
      name_bytes += e->name.size();
      if (files->size() >= max_files || name_bytes > uint64_t{64} * max_files) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "the source's archive lists more files than mdb-backup keeps in memory (",
            files->size(), " so far, ", name_bytes, " bytes of names; the limit is ", max_files,
            " files, with 64 bytes of name each on average): is the source sending a directory "
            "that is not its data directory?"));
      }
    }
    if (e->type == '5') {
      out.Raw("D", 1);
      out.Str(e->name);
      out.Int<uint32_t>(static_cast<uint32_t>(e->mode));
    } else if (e->type == '2') {
      // Refused at backup time too: a backup that no restore would accept is no backup.
      RETURN_IF_ERROR(CheckArchiveLink(e->name, e->link));
      out.Raw("L", 1);
      out.Str(e->name);
      out.Str(e->link);
      (*files)[e->name] = 0;
    } else if (e->type == '0') {
      (*files)[e->name] = e->size;
      const bool relation = IsRelationFile(e->name) && e->size % kPage == 0;
      auto had = parent ? parent->find(e->name) : FileSizes::const_iterator();
      // Visibility-map and free-space-map pages change without their LSN moving
      // (visibilitymap_clear sets no LSN; the FSM is not WAL-logged): always stored whole, as
      // PostgreSQL 17's own incremental backups do. They are small (a bit or a byte per page).
      const bool maps = absl::StrContains(e->name, "_vm") || absl::StrContains(e->name, "_fsm");
      // Append-optimized blocks carry no page LSN: their files by their own rule, whole.
      const bool own_rule =
          relation && whole &&
          (whole->count(RelationOf(e->name)) > 0 ||
           whole->count(e->name.substr(0, e->name.rfind('/'))) > 0);  // a whole database
      if (own_rule && parent) ++stats->whole_files;
      const bool paged = relation && !maps && !own_rule && parent && had != parent->end();
      if (relation) stats->pages_seen += e->size / kPage;
      if (MarksItsRecord(e->name, e->size)) RETURN_IF_ERROR(out.Mark(io::Boundary::kMay));
      out.Raw(paged ? "P" : "F", 1);
      out.Str(e->name);
      out.Int<uint32_t>(static_cast<uint32_t>(e->mode));
      out.Int<uint64_t>(e->size);
      if (!paged) {
        // A large file's header (its size changes as it grows) ends a chunk of its own, so that
        // its first pages are the same chunk in every backup: appended append-optimized files,
        // taken whole by every INCREMENTAL, store only their new tail.
        if (e->size >= kMarkBytes) RETURN_IF_ERROR(out.Mark(io::Boundary::kMust));
        if (relation) stats->pages_stored += e->size / kPage;
        for (uint64_t left = e->size; left > 0;) {
          size_t k = static_cast<size_t>(std::min<uint64_t>(left, kMarkBytes));
          // Handed to the sink as read: the chunker takes a page group whole (io::Pipe).
          ASSIGN_OR_RETURN(std::string piece, io::ReadOwned(tar, k));
          if (piece.size() != k) {
            return absl::DataLossError(absl::StrCat("tar: '", e->name, "' truncated"));
          }
          // The header before the first piece, a mark before every other one.
          RETURN_IF_ERROR(left == e->size ? out.Flush() : out.Mark(io::Boundary::kMay));
          RETURN_IF_ERROR(out_sink->WriteOwned(std::move(piece)));
          left -= k;
        }
      } else {
        // A page is left out only when the parent has it and it has not changed since the
        // parent began: its LSN is below the parent's start. Zero LSNs (new, not yet
        // initialised pages) are always kept: their content is not vouched for by any LSN.
        char page[kPage];
        uint64_t stored = 0;  // of this file
        for (uint64_t n = 0; n < e->size / kPage; ++n) {
          ASSIGN_OR_RETURN(size_t got, io::ReadFull(tar, page, kPage));
          if (got != kPage)
            return absl::DataLossError(absl::StrCat("tar: '", e->name, "' truncated"));
          Lsn lsn = PageLsn(page);
          bool beyond = (n + 1) * kPage > had->second;
          if (!beyond && lsn != 0 && lsn < threshold) continue;
          if (stored > 0 && stored % kPagesPerMark == 0) {
            RETURN_IF_ERROR(out.Mark(io::Boundary::kMay));
          }
          ++stored;
          out.Int<uint32_t>(static_cast<uint32_t>(n));
          out.Raw(page, kPage);
          ++stats->pages_stored;
          RETURN_IF_ERROR(out.MaybeFlush());
        }
        out.Int<uint32_t>(kEndOfPages);
      }
      RETURN_IF_ERROR(SkipTarPadding(tar, e->size));
    } else {
      // pax headers and other entries BASE_BACKUP does not produce: skipped with their data.
      for (uint64_t left = (e->size + 511) / 512 * 512; left > 0;) {
        size_t k = static_cast<size_t>(std::min<uint64_t>(left, kMarkBytes));
        ASSIGN_OR_RETURN(std::string skipped, io::ReadOwned(tar, k));
        if (skipped.size() != k) return absl::DataLossError("tar: truncated");
        left -= k;
      }
      continue;
    }
    RETURN_IF_ERROR(out.MaybeFlush());
  }
  out.Raw("E", 1);
  return out.Flush();
}

absl::Status ApplyArchive(io::ByteSource* archive, const std::string& dir, int uid, int gid,
                          size_t max_files) {
  In in(archive);
  std::string magic(kMagic.size(), '\0');
  RETURN_IF_ERROR(in.Exact(magic.data(), magic.size()));
  if (magic != kMagic) return absl::DataLossError("not a segment archive (bad magic)");
  ASSIGN_OR_RETURN(io::BeneathDir target, io::BeneathDir::Open(dir));
  std::set<std::string> listed;  // with WriteArchive's bound: max_files, 64 bytes of name each
  uint64_t name_bytes = 0;
  size_t repeated_links = 0;
  std::vector<ArchiveLink> links;  // created last, when no record can be written through them
  constexpr size_t kBuf = io::WriteBehind::kStep;
  std::unique_ptr<char[]> buffer(new (std::nothrow) char[kBuf]);
  if (!buffer) return absl::ResourceExhaustedError("no memory for the restore's buffer");
  char* const buf = buffer.get();
  io::WrittenFiles written;  // each file's write-back waited for a few files later
  for (;;) {
    char type;
    RETURN_IF_ERROR(in.Exact(&type, 1));
    if (type == 'E') break;
    ASSIGN_OR_RETURN(std::string rel, in.Str());
    RETURN_IF_ERROR(CheckPath(rel));
    if (type == 'D') {
      ASSIGN_OR_RETURN(uint32_t mode, in.Int<uint32_t>());
      RETURN_IF_ERROR(MakeArchiveDir(&target, rel, mode & 0777, uid, gid));
      continue;
    }
    // A link is kept as often as it comes (the last one of a name is made): one whose name was
    // listed before counts again, as WriteArchive, which keeps each name once, never writes.
    const bool listed_now = listed.insert(rel).second;
    if (!listed_now && type == 'L') ++repeated_links;
    if (listed_now || type == 'L') {
      name_bytes += rel.size();
      if (listed.size() + repeated_links > max_files || name_bytes > uint64_t{64} * max_files) {
        return absl::DataLossError(absl::StrCat(
            "archive: more than ", max_files, " files or ", uint64_t{64} * max_files,
            " bytes of their names, which no backup holds: the archive is damaged or was "
            "not written by mdb-backup"));
      }
    }
    if (type == 'L') {
      ASSIGN_OR_RETURN(std::string to, in.Str());
      RETURN_IF_ERROR(CheckArchiveLink(rel, to));
      links.push_back({rel, to});
      continue;
    }
    if (type != 'F' && type != 'P') {
      return absl::DataLossError(
          absl::StrCat("archive: unknown record '", std::string(1, type), "'"));
    }
    ASSIGN_OR_RETURN(uint32_t mode, in.Int<uint32_t>());
    ASSIGN_OR_RETURN(uint64_t size, in.Int<uint64_t>());
    // 'F' replaces the file; 'P' changes pages of the file the previous archive left.
    auto opened = target.OpenFile(rel, O_WRONLY | O_CREAT | (type == 'F' ? O_TRUNC : 0),
                                  mode & 0777 ? mode & 0777 : 0600);
    if (!opened.ok()) return Hostile(opened.status());
    const int fd = *opened;
    const std::string path = target.Describe(rel);
    absl::Status st;
    // Written behind (io/write_behind.h says why): a file's blocks in order; an incremental's
    // pages where they belong, then the whole file's write-back started.
    io::WriteBehind file(fd, path);
    if (type == 'F') {
      for (uint64_t off = 0; st.ok() && off < size;) {
        auto piece = in.Next(buf, static_cast<size_t>(std::min<uint64_t>(size - off, kBuf)));
        if (!piece.ok()) {
          st = piece.status();
          break;
        }
        st = file.Write(piece->data(), piece->size(), off);
        off += piece->size();
        in.Release();
      }
    } else {
      if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
        st = absl::UnavailableError(absl::StrCat("truncate '", path, "': ", strerror(errno)));
      }
      while (st.ok()) {
        auto n = in.Int<uint32_t>();
        if (!n.ok()) {
          st = n.status();
          break;
        }
        if (*n == kEndOfPages) break;
        if ((static_cast<uint64_t>(*n) + 1) * kPage > size) {
          st = absl::DataLossError(
              absl::StrCat("archive: page ", *n, " is past the end of '", rel, "'"));
          break;
        }
        st = in.Exact(buf, kPage);
        if (st.ok()) st = file.Write(buf, kPage, static_cast<uint64_t>(*n) * kPage);
      }
    }
    if (st.ok()) file.Kick();
    if (st.ok() && uid >= 0 && fchown(fd, uid, gid) != 0) {
      st = absl::PermissionDeniedError(absl::StrCat("chown '", path, "': ", strerror(errno)));
    }
    if (!st.ok()) {
      close(fd);
      return st;
    }
    RETURN_IF_ERROR(written.Add(fd, path));
  }
  RETURN_IF_ERROR(written.Finish());
  RETURN_IF_ERROR(CreateArchiveLinks(&target, links, uid, gid));
  std::error_code ec;
  // Files the archive does not list were deleted since the previous backup of the chain.
  // Non-throwing calls only (a crafted link loop must be an error, not std::terminate), names
  // taken lexically (never resolving links), and removal through `target`, which refuses a path
  // through a link that appeared since the scan.
  std::vector<std::string> stale;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec) && !it->is_symlink(type_ec)) continue;
    std::string rel = it->path().lexically_relative(dir).string();
    if (!listed.count(rel)) stale.push_back(std::move(rel));
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("listing '", dir, "' for stale files: ", ec.message()));
  }
  for (const auto& rel : stale) RETURN_IF_ERROR(Hostile(target.Remove(rel)));
  return absl::OkStatus();
}

std::string FormatFileSizes(const FileSizes& files) {
  std::string out;
  for (const auto& [path, size] : files) absl::StrAppend(&out, path, "\t", size, "\n");
  return out;
}

absl::StatusOr<FileSizes> ParseFileSizes(const std::string& text) {
  FileSizes out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    size_t tab = line.rfind('\t');
    uint64_t size;
    if (tab == absl::string_view::npos || !absl::SimpleAtoi(line.substr(tab + 1), &size)) {
      return absl::DataLossError("the file list of a backup is damaged");
    }
    out[std::string(line.substr(0, tab))] = size;
  }
  return out;
}

}  // namespace mdb::engine::greenplum
