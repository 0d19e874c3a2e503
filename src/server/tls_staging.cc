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

// Written beside, then renamed over: a reader sees the old file or the new one, never a part.
absl::Status WriteReplace(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot write '", tmp, "': ", strerror(errno)));
  }
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ok = fsync(fd) == 0 && ok;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write '", path, "': ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<common::TlsConfig> StageTlsFiles(const common::TlsConfig& tls,
                                                const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot create '", dir, "': ", strerror(errno)));
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", dir, "' must be a directory of this user (it holds the TLS key)"));
  }
  ASSIGN_OR_RETURN(std::string key, ReadAll(tls.key_file));
  ASSIGN_OR_RETURN(std::string chain, ReadAll(tls.cert_file));
  common::TlsConfig staged;
  // One file for both: PEM readers skip blocks of other types, so the key reader finds the key
  // and the chain reader the certificates.
  staged.cert_file = staged.key_file = dir + "/identity.pem";
  RETURN_IF_ERROR(WriteReplace(staged.cert_file, absl::StrCat(key, "\n", chain)));
  if (!tls.client_ca_file.empty()) {
    ASSIGN_OR_RETURN(std::string ca, ReadAll(tls.client_ca_file));
    staged.client_ca_file = dir + "/client_ca.pem";
    RETURN_IF_ERROR(WriteReplace(staged.client_ca_file, ca));
  }
  return staged;
}

}  // namespace mdb::server
