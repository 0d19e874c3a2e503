// The archive format Greenplum segment backups are stored in: BASE_BACKUP's tar stream rewritten
// into records, where a relation file of an INCREMENTAL backup carries only the 8 KiB pages
// changed since its parent began (page LSN at or after the parent's start LSN), as WAL-G's delta
// backups and pg_probackup do, but computed by the service from the replication stream: no file
// access on the database host. A BASE backup is the same format with every page.
//
// Stream: "MDBPGARC1\n", then records (integers little-endian):
//   'D' path mode                  directory
//   'L' path target                symlink
//   'F' path mode size <bytes>     whole file
//   'P' path mode size {u32 page, 8192 bytes}* u32 0xFFFFFFFF
//                                  paged file: its size, and the pages that changed
//   'E'                            end
// where path and target are u16 length + bytes, mode u32, size u64. Restore applies the archives
// of a chain (BASE first) in order into one directory; after each, files it does not list are
// removed. Sizes of every file go to a second stream (path \t size lines) so that the next
// INCREMENTAL knows which pages its parent had.
#pragma once

#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "engine/greenplum/wal_names.h"
#include "io/stream.h"

namespace mdb::engine::greenplum {

using FileSizes = std::map<std::string, uint64_t>;

struct ArchiveStats {
  uint64_t pages_seen = 0;
  uint64_t pages_stored = 0;
  uint64_t whole_files = 0;  // relation files stored whole by their own rule (append-optimized)
};

// True for files holding 8 KiB pages with a page LSN: relation forks and their segments under
// base/ and global/ ("16384/2619", "16384/2619_fsm", "global/1262.1").
bool IsRelationFile(const std::string& path);

// The relation (its files "base/<db>/<relfilenode>", with any ".N" segment or "_fork") of `path`,
// or "" for a path that is no relation file.
std::string RelationOf(const std::string& path);

// Rewrites the tar stream `tar` into an archive on `out`. With `parent` (the parent's file sizes)
// pages of relation files the parent had, whose LSN is below `threshold` and not zero, are left
// out, except in the files of `whole` relations (RelationOf) or directories ("base/<db>"):
// append-optimized tables, whose blocks carry no page LSN, are stored whole. `files` receives the
// size of every file written: at most `max_files` of them, with names of 64 bytes each on average
// (ResourceExhausted past that: the list is held in memory, and a source that sends headers
// without end must not exhaust it).
inline constexpr size_t kMaxArchiveFiles = 10'000'000;
absl::Status WriteArchive(io::ByteSource* tar, const FileSizes* parent, Lsn threshold,
                          io::ByteSink* out, FileSizes* files, ArchiveStats* stats,
                          const std::set<std::string>* whole = nullptr,
                          size_t max_files = kMaxArchiveFiles);

// Applies an archive to `dir` (created if needed); `uid`/`gid` own what it creates (-1: as is).
// Files under `dir` that the archive does not list are removed afterwards. Files are written
// behind (io/write_behind.h): on their way to disk as they are written, so that the caller's
// sync at the end has little left to wait for, and a large file holds at most a window of the
// page cache; each file's write-back is waited for (a failed one is an error) before it returns.
// An archive listing more files or names than WriteArchive lets a backup hold (`max_files`) was
// not written by it: DATA_LOSS (the names are held in memory until the end).
absl::Status ApplyArchive(io::ByteSource* archive, const std::string& dir, int uid, int gid,
                          size_t max_files = kMaxArchiveFiles);

// The file-sizes stream: "path\tsize\n" lines.
std::string FormatFileSizes(const FileSizes& files);
absl::StatusOr<FileSizes> ParseFileSizes(const std::string& text);

}  // namespace mdb::engine::greenplum
