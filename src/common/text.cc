#include "common/text.h"

#include "absl/strings/str_format.h"

namespace mdb::common {

size_t Utf8SequenceAt(absl::string_view s, size_t i) {
  auto at = [&](size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  unsigned char c = at(0);
  auto cont = [&](size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return at(k) >= lo && at(k) <= hi;
  };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c >= 0xE1 && c <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

namespace {

// One walk for both: `one_line` turns controls into single spaces.
std::string Clean(absl::string_view m, size_t max_bytes, bool one_line) {
  std::string out;
  out.reserve(std::min(m.size(), max_bytes) + 16);
  for (size_t i = 0; i < m.size();) {
    if (out.size() >= max_bytes) {
      out += "... (cut)";
      break;
    }
    const size_t n = Utf8SequenceAt(m, i);
    const unsigned char c = static_cast<unsigned char>(m[i]);
    // C1 controls are the two-byte sequences C2 80..C2 9F.
    const bool control = n == 1
                             ? (c < 0x20 || c == 0x7f)
                             : n == 2 && c == 0xC2 && static_cast<unsigned char>(m[i + 1]) < 0xA0;
    if (one_line && control) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else if (n > 0) {
      out.append(m.data() + i, n);
    } else {
      absl::StrAppendFormat(&out, "\\x%02X", c);
    }
    i += n > 0 ? n : 1;
  }
  if (one_line) {
    while (!out.empty() && out.back() == ' ') out.pop_back();
    size_t lead = 0;
    while (lead < out.size() && out[lead] == ' ') ++lead;
    out.erase(0, lead);
  }
  return out;
}

}  // namespace

std::string CleanUtf8(absl::string_view text, size_t max_bytes) {
  return Clean(text, max_bytes, /*one_line=*/false);
}

std::string OneLine(absl::string_view text, size_t max_bytes) {
  return Clean(text, max_bytes, /*one_line=*/true);
}

}  // namespace mdb::common
