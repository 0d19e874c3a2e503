// Ids come from the kernel's CSPRNG so that several instances sharing a catalog never collide.
#include "common/ids.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace mdb::common {

void RandomBytes(void* out, size_t n) {
  auto* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      abort();  // The kernel CSPRNG never fails once booted; continuing would risk duplicate ids.
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
}

std::string NewId() {
  // Base32 alphabet (a-v, 0-9 order as in RFC 4648 "extended hex" lowercased) keeps ids URL-safe
  // and case-insensitive; the first character is forced to a letter.
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuv";
  uint8_t raw[20];
  RandomBytes(raw, sizeof(raw));
  std::string id(20, ' ');
  for (int i = 0; i < 20; ++i) id[i] = kAlphabet[raw[i] & 31];
  id[0] = kAlphabet[10 + raw[0] % 22];
  return id;
}

}  // namespace mdb::common
