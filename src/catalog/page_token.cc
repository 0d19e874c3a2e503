// Layout (before base64url without padding): version(1) | created_ns(8, big-endian) |
// seq(8, big-endian) | HMAC-SHA256(key, first 17 bytes | scope) truncated to 12 bytes.
// 96 MAC bits make forgery hopeless; truncation keeps tokens short.
#include "catalog/page_token.h"

#include <sodium.h>

#include "absl/strings/escaping.h"

namespace mdb::catalog {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kBodySize = 17;
constexpr size_t kMacSize = 12;

void PutBigEndian(uint64_t v, std::string* out) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetBigEndian(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

absl::Status BadToken() {
  return absl::InvalidArgumentError(
      "invalid 'page_token': it is not a next_page_token of this list; start from the first page "
      "(empty page_token)");
}

}  // namespace

std::string PageTokenCodec::Mac(const std::string& body, const std::string& scope) const {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key_.data()),
                              key_.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()),
                                body.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(scope.data()),
                                scope.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, mac);
  return std::string(reinterpret_cast<char*>(mac), kMacSize);
}

std::string PageTokenCodec::Encode(const PageCursor& cursor, const std::string& scope) const {
  std::string raw;
  raw.push_back(static_cast<char>(kVersion));
  PutBigEndian(static_cast<uint64_t>(cursor.created_ns), &raw);
  PutBigEndian(static_cast<uint64_t>(cursor.seq), &raw);
  raw += Mac(raw, scope);
  std::string out;
  absl::WebSafeBase64Escape(raw, &out);
  return out;
}

absl::StatusOr<PageCursor> PageTokenCodec::Decode(const std::string& token,
                                                  const std::string& scope) const {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() != kBodySize + kMacSize ||
      static_cast<uint8_t>(raw[0]) != kVersion) {
    return BadToken();
  }
  std::string body = raw.substr(0, kBodySize);
  std::string expected = Mac(body, scope);
  if (sodium_memcmp(expected.data(), raw.data() + kBodySize, kMacSize) != 0) return BadToken();
  return PageCursor{.created_ns = static_cast<int64_t>(GetBigEndian(raw.data() + 1)),
                    .seq = static_cast<int64_t>(GetBigEndian(raw.data() + 9))};
}

}  // namespace mdb::catalog
