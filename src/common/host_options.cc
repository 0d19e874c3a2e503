#include "common/host_options.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace mdb::common {

std::string HostOption(const HostConfig& host, const std::string& key,
                       const std::string& fallback) {
  auto it = host.options.find(key);
  return it == host.options.end() ? fallback : it->second;
}

absl::StatusOr<std::string> HostPassword(const HostConfig& host) {
  std::string file = HostOption(host, "password_file");
  if (file.empty()) return HostOption(host, "password");
  std::ifstream in(file);
  std::string line;
  if (!in || (!std::getline(in, line) && !in.eof())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "host ", host.address, ": cannot read password_file '", file, "': ", strerror(errno)));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace mdb::common
