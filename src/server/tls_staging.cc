#include "server/tls_staging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace mdb::server {
namespace {

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  if (!in || !(ss << in.rdbuf())) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read '", path, "'"));
  }
  return ss.str();
}

// A new file for the owner only: a leftover of another mode or owner is removed first (O_EXCL).
absl::Status WriteNew(const std::string& path, const std::string& data) {
  unlink(path.c_str());
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot write '", path, "': ", strerror(errno)));
  }
  bool ok = fchmod(fd, 0600) == 0;
  ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && ok;
  ok = fsync(fd) == 0 && ok;
  ok = close(fd) == 0 && ok;
  if (!ok) {
    unlink(path.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write '", path, "': ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<common::TlsConfig> StageTlsFiles(
    const common::TlsConfig& tls, const std::string& dir,
    const std::function<absl::Status(const common::TlsConfig&)>& check) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot create '", dir, "': ", strerror(errno)));
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "'", dir, "' must be a directory of this user, mode 0700 (it holds the TLS key)"));
  }
  ASSIGN_OR_RETURN(std::string key, ReadAll(tls.key_file));
  ASSIGN_OR_RETURN(std::string chain, ReadAll(tls.cert_file));
  common::TlsConfig fresh, staged;
  // One file for both: PEM readers skip blocks of other types, so the key reader finds the key
  // and the chain reader the certificates.
  fresh.cert_file = fresh.key_file = dir + "/identity.pem.new";
  staged.cert_file = staged.key_file = dir + "/identity.pem";
  RETURN_IF_ERROR(WriteNew(fresh.cert_file, absl::StrCat(key, "\n", chain)));
  if (!tls.client_ca_file.empty()) {
    ASSIGN_OR_RETURN(std::string ca, ReadAll(tls.client_ca_file));
    fresh.client_ca_file = dir + "/client_ca.pem.new";
    staged.client_ca_file = dir + "/client_ca.pem";
    RETURN_IF_ERROR(WriteNew(fresh.client_ca_file, ca));
  }
  if (absl::Status checked = check(fresh); !checked.ok()) {
    unlink(fresh.cert_file.c_str());
    if (!fresh.client_ca_file.empty()) unlink(fresh.client_ca_file.c_str());
    return common::WithContext(checked, absl::StrCat("the TLS files read from '", tls.cert_file,
                                                     "', '", tls.key_file, "'"));
  }
  if (!fresh.client_ca_file.empty() &&
      rename(fresh.client_ca_file.c_str(), staged.client_ca_file.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot rename into '", staged.client_ca_file, "': ", strerror(errno)));
  }
  if (rename(fresh.cert_file.c_str(), staged.cert_file.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot rename into '", staged.cert_file, "': ", strerror(errno)));
  }
  return staged;
}

void RemoveStagedTlsFiles(const std::string& dir) {
  for (const char* name :
       {"/identity.pem", "/client_ca.pem", "/identity.pem.new", "/client_ca.pem.new"}) {
    unlink((dir + name).c_str());
  }
  rmdir(dir.c_str());
}

}  // namespace mdb::server
