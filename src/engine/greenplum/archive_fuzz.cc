// libFuzzer target: the tar stream of BASE_BACKUP rewritten into a segment archive (what a source
// server sends), and segment archives applied to a directory (what a repository holds)
// (scripts/fuzz.sh). Applied under a fresh directory each run; nothing may appear outside it.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "engine/greenplum/page_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace gp = mdb::engine::greenplum;
  std::string input(reinterpret_cast<const char*>(data), size);
  {
    mdb::io::StringSource tar(input);
    mdb::io::StringSink sink;
    gp::FileSizes files;
    gp::ArchiveStats stats;
    (void)gp::WriteArchive(&tar, nullptr, 0, &sink, &files, &stats);
  }
  static const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("mdb-archive-fuzz-" + std::to_string(getpid()));
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  mdb::io::StringSource archive("MDBPGARC1\n" + input);
  (void)gp::ApplyArchive(&archive, (root / "target").string(), -1, -1);
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return 0;
}
