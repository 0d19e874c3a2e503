// Test data for the Greenplum archive tests: tar streams as BASE_BACKUP writes them, and pages.
#ifndef MDB_ENGINE_GREENPLUM_PAGE_ARCHIVE_TEST_TAR_H_
#define MDB_ENGINE_GREENPLUM_PAGE_ARCHIVE_TEST_TAR_H_

#include <cstdio>
#include <cstring>
#include <string>

#include "engine/greenplum/wal_names.h"

namespace mdb::engine::greenplum::testdata {

// A ustar archive as BASE_BACKUP writes one: directories, files, symlinks.
class Tar {
 public:
  void Dir(const std::string& name) { Header(name, 0, '5', ""); }
  void Link(const std::string& name, const std::string& target) { Header(name, 0, '2', target); }
  void File(const std::string& name, const std::string& data, int mode = 0600, char type = '0') {
    Header(name, data.size(), type, "", mode);
    out_ += data;
    out_.append((512 - data.size() % 512) % 512, '\0');
  }
  std::string Finish() { return out_ + std::string(1024, '\0'); }

 private:
  void Header(const std::string& name, size_t size, char type, const std::string& link,
              int mode = 0600) {
    char h[512] = {};
    snprintf(h, 100, "%s", name.c_str());
    snprintf(h + 100, 8, "%07o", mode);
    snprintf(h + 124, 12, "%011zo", size);
    h[156] = type;
    snprintf(h + 157, 100, "%s", link.c_str());
    memcpy(h + 257, "ustar", 5);
    out_.append(h, 512);
  }
  std::string out_;
};

// A page whose pd_lsn is `lsn`, filled with `fill`.
inline std::string Page(Lsn lsn, char fill) {
  std::string p(8192, fill);
  uint32_t hi = static_cast<uint32_t>(lsn >> 32), lo = static_cast<uint32_t>(lsn);
  memcpy(p.data(), &hi, 4);
  memcpy(p.data() + 4, &lo, 4);
  return p;
}

}  // namespace mdb::engine::greenplum::testdata

#endif  // MDB_ENGINE_GREENPLUM_PAGE_ARCHIVE_TEST_TAR_H_
