#include "repo/restore_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "io/beneath.h"
#include "io/write_behind.h"

namespace mdb::repo {
namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace

absl::StatusOr<RestoreDirReport> RestoreToDirectory(Repository* repo, const Manifest& manifest,
                                                    const std::string& dir) {
  const bool made_root = !Exists(dir);
  auto target = io::BeneathDir::Open(dir);
  if (!target.ok()) return target.status();
  // What this call creates, to be removed again if it fails: files, then directories deepest
  // first (only those that did not exist before).
  std::vector<std::string> files;
  std::set<std::string, std::greater<>> dirs;
  RestoreDirReport report;
  absl::Status st = [&]() -> absl::Status {
    // Every name is checked before anything is written.
    for (const auto& s : manifest.streams()) {
      if (absl::Status bad = io::CheckRelativeName(s.name()); !bad.ok()) {
        return absl::DataLossError(absl::StrCat("backup '", manifest.backup_id(),
                                                "' cannot be restored into a directory: stream ",
                                                bad.message()));
      }
    }
    for (const auto& s : manifest.streams()) {
      const std::string& name = s.name();
      for (size_t slash = name.find('/'); slash != std::string::npos;
           slash = name.find('/', slash + 1)) {
        std::string parent = name.substr(0, slash);
        if (!Exists(absl::StrCat(dir, "/", parent))) dirs.insert(parent);
      }
      auto fd = target->OpenFile(name, O_WRONLY | O_CREAT | O_EXCL, 0640);
      if (!fd.ok()) {
        if (fd.status().code() == absl::StatusCode::kAlreadyExists) {
          return absl::FailedPreconditionError(absl::StrCat(
              "'", target->Describe(name), "' exists; restore into an empty directory"));
        }
        return fd.status().code() == absl::StatusCode::kFailedPrecondition
                   ? absl::DataLossError(absl::StrCat("backup '", manifest.backup_id(),
                                                      "': ", fd.status().message()))
                   : fd.status();
      }
      files.push_back(name);
      io::WriteBehindSink sink(*fd, target->Describe(name));
      absl::Status written = repo->RestoreStream(manifest, name, &sink);
      if (written.ok()) written = sink.Close();
      close(*fd);
      if (!written.ok()) return written;
      ++report.streams;
      report.bytes += s.size();
    }
    return absl::OkStatus();
  }();
  if (st.ok()) return report;
  for (auto it = files.rbegin(); it != files.rend(); ++it) (void)target->Remove(*it);
  for (const auto& d : dirs) (void)target->Remove(d);
  if (made_root) rmdir(dir.c_str());
  return st;
}

}  // namespace mdb::repo
