// An RDB is a sequence of opcodes and typed values (rdb.h in Redis). We never decode values: each
// value's encoding is walked only to find where it ends, and its raw bytes become the DUMP payload
// (a DUMP is exactly "type byte + value encoding + 2-byte RDB version + CRC64"), so every type's
// internal encoding (listpacks, quicklists, intsets...) is carried over untouched.
#include "engine/redis/rdb_keys.h"

#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "engine/redis/redis_crc.h"

namespace mdb::engine::redis {
namespace {

constexpr uint8_t kOpFunction2 = 245, kOpModuleAux = 247, kOpIdle = 248, kOpFreq = 249,
                  kOpAux = 250, kOpResizeDb = 251, kOpExpireMs = 252, kOpExpireSec = 253,
                  kOpSelectDb = 254, kOpEof = 255;

// Redis' own limit on one bulk string (proto-max-bulk-len): no key name, string or DUMP payload of
// a real server is larger, and RESTORE could not load a larger one. Lengths are checked against it
// before anything is allocated, so a damaged or hostile RDB cannot make us allocate what it
// declares.
constexpr uint64_t kMaxString = 512ull << 20;

absl::Status TooLong(const char* what, uint64_t n) {
  return absl::DataLossError(absl::StrCat("the RDB declares ", what, " of ", n,
                                          " bytes, more than Redis allows (", kMaxString >> 20,
                                          " MiB): damaged, or not from a Redis server"));
}

// Buffered reader that can also record the bytes it reads (the current value).
class Reader {
 public:
  explicit Reader(io::ByteSource* src) : src_(src) {}

  absl::Status Read(void* out, size_t n) {
    if (!recording_ && n <= len_ - pos_) {  // most reads: a few bytes from the buffer
      memcpy(out, buf_.data() + pos_, n);
      pos_ += n;
      return absl::OkStatus();
    }
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      if (pos_ == len_) {
        ASSIGN_OR_RETURN(len_, src_->Read(buf_.data(), buf_.size()));
        pos_ = 0;
        if (len_ == 0) return absl::DataLossError("the RDB ends in the middle of a value");
      }
      size_t k = std::min(n, len_ - pos_);
      memcpy(p, buf_.data() + pos_, k);
      if (recording_) {
        if (record_.size() + k > kMaxString) return TooLong("a value", record_.size() + k);
        record_.append(buf_.data() + pos_, k);
      }
      pos_ += k;
      p += k;
      n -= k;
    }
    return absl::OkStatus();
  }
  absl::StatusOr<uint8_t> Byte() {
    if (!recording_ && pos_ < len_) return static_cast<uint8_t>(buf_[pos_++]);
    uint8_t b;
    RETURN_IF_ERROR(Read(&b, 1));
    return b;
  }
  absl::Status Skip(uint64_t n) {
    if (!recording_) {  // past the bytes in the buffer, without copying them anywhere
      while (n > 0) {
        if (pos_ == len_) {
          ASSIGN_OR_RETURN(len_, src_->Read(buf_.data(), buf_.size()));
          pos_ = 0;
          if (len_ == 0) return absl::DataLossError("the RDB ends in the middle of a value");
        }
        size_t k = std::min<uint64_t>(n, len_ - pos_);
        pos_ += k;
        n -= k;
      }
      return absl::OkStatus();
    }
    char tmp[4096];
    while (n > 0) {
      size_t k = std::min<uint64_t>(n, sizeof(tmp));
      RETURN_IF_ERROR(Read(tmp, k));
      n -= k;
    }
    return absl::OkStatus();
  }

  // RDB length encoding; `special` is set for the string encodings (int / LZF) of type 11.
  absl::StatusOr<uint64_t> Length(bool* special = nullptr) {
    ASSIGN_OR_RETURN(uint8_t b, Byte());
    if (special) *special = false;
    switch (b >> 6) {
      case 0:
        return b & 0x3f;
      case 1: {
        ASSIGN_OR_RETURN(uint8_t b2, Byte());
        return (static_cast<uint64_t>(b & 0x3f) << 8) | b2;
      }
      case 2: {
        int n = b == 0x80 ? 4 : b == 0x81 ? 8 : 0;
        if (n == 0) return absl::DataLossError("bad RDB length encoding");
        uint8_t raw[8];
        RETURN_IF_ERROR(Read(raw, n));
        uint64_t v = 0;
        for (int i = 0; i < n; ++i) v = (v << 8) | raw[i];  // big-endian
        return v;
      }
      default:
        if (!special) return absl::DataLossError("unexpected RDB string encoding");
        *special = true;
        return b & 0x3f;
    }
  }

  // A string: returned when `out` is given, else skipped.
  absl::Status String(std::string* out) {
    bool special;
    ASSIGN_OR_RETURN(uint64_t len, Length(&special));
    if (special) {
      switch (len) {
        case 0:
        case 1:
        case 2: {  // 8/16/32-bit integer
          int n = 1 << len;
          uint8_t raw[4];
          RETURN_IF_ERROR(Read(raw, n));
          if (out) {
            int64_t v = n == 1   ? static_cast<int8_t>(raw[0])
                        : n == 2 ? static_cast<int16_t>(raw[0] | (raw[1] << 8))
                                 : static_cast<int32_t>(raw[0] | (raw[1] << 8) | (raw[2] << 16) |
                                                        (static_cast<uint32_t>(raw[3]) << 24));
            *out = std::to_string(v);
          }
          return absl::OkStatus();
        }
        case 3: {  // LZF: compressed length, plain length, data
          ASSIGN_OR_RETURN(uint64_t clen, Length());
          ASSIGN_OR_RETURN(uint64_t plen, Length());
          if (!out) return Skip(clen);
          if (clen > kMaxString) return TooLong("a compressed string", clen);
          if (plen > kMaxString) return TooLong("a string", plen);
          std::string c;
          RETURN_IF_ERROR(ReadGrowing(clen, &c));
          return Lzf(c, plen, out);
        }
        default:
          return absl::DataLossError("unknown RDB string encoding");
      }
    }
    if (!out) return Skip(len);
    if (len > kMaxString) return TooLong("a string", len);
    return ReadGrowing(len, out);
  }

  // `n` bytes into `out`, grown as they arrive: a length declared without the bytes behind it
  // allocates only what came.
  absl::Status ReadGrowing(uint64_t n, std::string* out) {
    out->clear();
    while (out->size() < n) {
      const size_t at = out->size();
      const size_t k = static_cast<size_t>(std::min<uint64_t>(n - at, 1 << 20));
      out->resize(at + k);
      RETURN_IF_ERROR(Read(out->data() + at, k));
    }
    return absl::OkStatus();
  }

  void StartRecording() {
    recording_ = true;
    record_.clear();
  }
  std::string StopRecording() {
    recording_ = false;
    return std::move(record_);
  }

 private:
  // LZF decompression (liblzf's format); keys are usually short, but a long key can be compressed.
  static absl::Status Lzf(const std::string& in, uint64_t plen, std::string* out) {
    out->clear();
    // A back-reference of 3 bytes makes 264: a small input can claim gigabytes, so the output
    // is held to its declared length at every step, and reserved only as far as the input
    // could honestly reach.
    out->reserve(static_cast<size_t>(std::min<uint64_t>(plen, in.size() * 4 + 64)));
    auto past = [&](size_t n) { return n > plen - out->size(); };
    auto too_long = [&] {
      return absl::DataLossError(
          absl::StrCat("bad LZF data: it decompresses to more than its declared ", plen, " bytes"));
    };
    size_t i = 0;
    while (i < in.size()) {
      uint8_t ctrl = in[i++];
      if (ctrl < 32) {
        size_t n = ctrl + 1u;
        if (i + n > in.size()) return absl::DataLossError("bad LZF data");
        if (past(n)) return too_long();
        out->append(in, i, n);
        i += n;
      } else {
        size_t n = ctrl >> 5;
        if (n == 7) {
          if (i >= in.size()) return absl::DataLossError("bad LZF data");
          n += static_cast<uint8_t>(in[i++]);
        }
        if (i >= in.size()) return absl::DataLossError("bad LZF data");
        size_t back = ((ctrl & 0x1f) << 8) + static_cast<uint8_t>(in[i++]) + 1;
        if (back > out->size()) return absl::DataLossError("bad LZF data");
        if (past(n + 2)) return too_long();
        size_t from = out->size() - back;
        for (size_t k = 0; k < n + 2; ++k) out->push_back((*out)[from + k]);
      }
    }
    if (out->size() != plen) return absl::DataLossError("bad LZF length");
    return absl::OkStatus();
  }

  io::ByteSource* src_;
  std::array<char, 65536> buf_;
  size_t pos_ = 0, len_ = 0;
  bool recording_ = false;
  std::string record_;
};

// Walks one value of `type` to its end (the reader records the bytes).
absl::Status SkipValue(Reader& r, uint8_t type) {
  auto strings = [&](uint64_t n) -> absl::Status {
    for (uint64_t i = 0; i < n; ++i) RETURN_IF_ERROR(r.String(nullptr));
    return absl::OkStatus();
  };
  switch (type) {
    case 0:
    case 9:
    case 10:
    case 11:
    case 12:
    case 13:
    case 16:
    case 17:
    case 20:
      return r.String(nullptr);  // a string, or one blob (ziplist, intset, listpack)
    case 1:
    case 2:
    case 14: {  // list, set, quicklist of ziplists
      ASSIGN_OR_RETURN(uint64_t n, r.Length());
      return strings(n);
    }
    case 4: {  // hash
      ASSIGN_OR_RETURN(uint64_t n, r.Length());
      return strings(2 * n);
    }
    case 3: {  // zset with string scores
      ASSIGN_OR_RETURN(uint64_t n, r.Length());
      for (uint64_t i = 0; i < n; ++i) {
        RETURN_IF_ERROR(r.String(nullptr));
        ASSIGN_OR_RETURN(uint8_t len, r.Byte());
        if (len < 253) RETURN_IF_ERROR(r.Skip(len));
      }
      return absl::OkStatus();
    }
    case 5: {  // zset with binary scores
      ASSIGN_OR_RETURN(uint64_t n, r.Length());
      for (uint64_t i = 0; i < n; ++i) {
        RETURN_IF_ERROR(r.String(nullptr));
        RETURN_IF_ERROR(r.Skip(8));
      }
      return absl::OkStatus();
    }
    case 18: {  // quicklist 2: container kind + blob per node
      ASSIGN_OR_RETURN(uint64_t n, r.Length());
      for (uint64_t i = 0; i < n; ++i) {
        RETURN_IF_ERROR(r.Length().status());
        RETURN_IF_ERROR(r.String(nullptr));
      }
      return absl::OkStatus();
    }
    case 15:
    case 19:
    case 21: {  // streams, versions 1-3
      ASSIGN_OR_RETURN(uint64_t nodes, r.Length());
      RETURN_IF_ERROR(strings(2 * nodes));
      for (int i = 0; i < 3; ++i) RETURN_IF_ERROR(r.Length().status());  // length, last id
      if (type >= 19) {
        for (int i = 0; i < 5; ++i)
          RETURN_IF_ERROR(r.Length().status());  // first/max-deleted id, added
      }
      ASSIGN_OR_RETURN(uint64_t groups, r.Length());
      for (uint64_t g = 0; g < groups; ++g) {
        RETURN_IF_ERROR(r.String(nullptr));
        for (int i = 0; i < 2; ++i) RETURN_IF_ERROR(r.Length().status());  // last delivered id
        if (type >= 19) RETURN_IF_ERROR(r.Length().status());              // entries read
        ASSIGN_OR_RETURN(uint64_t pel, r.Length());
        for (uint64_t p = 0; p < pel; ++p) {
          RETURN_IF_ERROR(r.Skip(16 + 8));       // entry id, delivery time
          RETURN_IF_ERROR(r.Length().status());  // delivery count
        }
        ASSIGN_OR_RETURN(uint64_t consumers, r.Length());
        for (uint64_t c = 0; c < consumers; ++c) {
          RETURN_IF_ERROR(r.String(nullptr));
          RETURN_IF_ERROR(r.Skip(type >= 21 ? 16 : 8));  // seen (and active) time
          ASSIGN_OR_RETURN(uint64_t cpel, r.Length());
          RETURN_IF_ERROR(r.Skip(cpel * 16));
        }
      }
      return absl::OkStatus();
    }
    default:
      return absl::UnimplementedError(
          absl::StrCat("the backup holds a value of RDB type ", type,
                       " (a module type?), which cannot be restored key by key"));
  }
}

// The opcodes both walks pass over alike (auxiliary fields, size hints, eviction data): true
// when `op` was one of them and is consumed.
absl::StatusOr<bool> SkipMeta(Reader& r, uint8_t op) {
  switch (op) {
    case kOpAux:
      RETURN_IF_ERROR(r.String(nullptr));
      RETURN_IF_ERROR(r.String(nullptr));
      return true;
    case kOpResizeDb:
      RETURN_IF_ERROR(r.Length().status());
      RETURN_IF_ERROR(r.Length().status());
      return true;
    case kOpIdle:
      RETURN_IF_ERROR(r.Length().status());
      return true;
    case kOpFreq:
      RETURN_IF_ERROR(r.Skip(1));
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::Status ForEachRdbKey(io::ByteSource* source,
                           const std::function<absl::Status(const RdbKey&)>& on_key,
                           bool functions_apart) {
  Reader r(source);
  char header[9];
  RETURN_IF_ERROR(r.Read(header, 9));
  if (memcmp(header, "REDIS", 5) != 0) return absl::DataLossError("not an RDB (no REDIS header)");
  int version = atoi(std::string(header + 5, 4).c_str());
  int64_t expire_ms = -1;
  uint64_t db = 0;
  for (;;) {
    ASSIGN_OR_RETURN(uint8_t op, r.Byte());
    ASSIGN_OR_RETURN(bool meta, SkipMeta(r, op));
    if (meta) continue;
    switch (op) {
      case kOpEof:
        return absl::OkStatus();  // the checksum that follows is the server's
      case kOpSelectDb: {
        ASSIGN_OR_RETURN(db, r.Length());
        if (db != 0) {
          return absl::UnimplementedError(
              "the backup holds databases other than 0; restore it "
              "into a non-cluster target");
        }
        continue;
      }
      case kOpExpireMs: {
        uint8_t raw[8];
        RETURN_IF_ERROR(r.Read(raw, 8));
        expire_ms = 0;
        for (int i = 7; i >= 0; --i) expire_ms = (expire_ms << 8) | raw[i];
        continue;
      }
      case kOpExpireSec: {
        uint8_t raw[4];
        RETURN_IF_ERROR(r.Read(raw, 4));
        expire_ms = 1000LL * (raw[0] | (raw[1] << 8) | (raw[2] << 16) |
                              (static_cast<int64_t>(raw[3]) << 24));
        continue;
      }
      case kOpFunction2:
        if (functions_apart) {
          RETURN_IF_ERROR(r.String(nullptr));
          continue;
        }
        [[fallthrough]];
      case kOpModuleAux:
        return absl::UnimplementedError(
            "the backup holds module data or functions, which cannot be restored key by key");
      default:
        break;
    }
    RdbKey key;
    RETURN_IF_ERROR(r.String(&key.key));
    r.StartRecording();
    absl::Status st = SkipValue(r, op);
    std::string value = r.StopRecording();
    RETURN_IF_ERROR(st);
    key.payload.reserve(value.size() + 11);
    key.payload.push_back(static_cast<char>(op));
    key.payload += value;
    key.payload.push_back(static_cast<char>(version & 0xff));
    key.payload.push_back(static_cast<char>((version >> 8) & 0xff));
    uint64_t crc = Crc64(0, key.payload.data(), key.payload.size());
    for (int i = 0; i < 8; ++i) key.payload.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    key.expire_at_ms = expire_ms;
    expire_ms = -1;
    RETURN_IF_ERROR(on_key(key));
  }
}

uint64_t KeyNameHash(std::string_view key) { return Crc64(0, key.data(), key.size()); }

absl::StatusOr<std::map<uint64_t, RdbDbFacts>> CountRdbKeys(io::ByteSource* source) {
  Reader r(source);
  char header[9];
  RETURN_IF_ERROR(r.Read(header, 9));
  if (memcmp(header, "REDIS", 5) != 0) return absl::DataLossError("not an RDB (no REDIS header)");
  std::map<uint64_t, RdbDbFacts> out;
  uint64_t db = 0;
  RdbDbFacts* facts = nullptr;  // out[db], once db has a key (std::map keeps it where it is)
  bool expiring = false;
  std::string key;
  for (;;) {
    ASSIGN_OR_RETURN(uint8_t op, r.Byte());
    ASSIGN_OR_RETURN(bool meta, SkipMeta(r, op));
    if (meta) continue;
    switch (op) {
      case kOpEof:
        return out;
      case kOpSelectDb: {
        ASSIGN_OR_RETURN(db, r.Length());
        facts = nullptr;
        continue;
      }
      case kOpExpireMs:
        RETURN_IF_ERROR(r.Skip(8));
        expiring = true;
        continue;
      case kOpExpireSec:
        RETURN_IF_ERROR(r.Skip(4));
        expiring = true;
        continue;
      case kOpFunction2:  // a function library: one string
        RETURN_IF_ERROR(r.String(nullptr));
        continue;
      case kOpModuleAux:
        return absl::UnimplementedError("the RDB holds module data, which only its module reads");
      default:
        break;
    }
    RETURN_IF_ERROR(r.String(&key));  // one buffer for every name
    RETURN_IF_ERROR(SkipValue(r, op));
    if (facts == nullptr) facts = &out[db];
    ++facts->keys;
    if (expiring) ++facts->expiring;
    facts->names_hash += KeyNameHash(key);
    expiring = false;
  }
}

std::vector<std::string> KeyCountProblems(const std::map<uint64_t, RdbDbFacts>& recorded,
                                          const std::map<uint64_t, DbKeys>& restored) {
  std::vector<std::string> out;
  for (const auto& [db, want] : recorded) {
    auto it = restored.find(db);
    const DbKeys got = it == restored.end() ? DbKeys{} : it->second;
    const uint64_t want_persistent = want.keys - want.expiring;
    const uint64_t got_persistent = got.keys - std::min(got.expires, got.keys);
    if (got_persistent != want_persistent || got.expires > want.expiring) {
      out.push_back(absl::StrCat("db", db, ": ", got_persistent, " keys without and ", got.expires,
                                 " with a time to live restored, the backup recorded ",
                                 want_persistent, " and ", want.expiring));
    }
  }
  for (const auto& [db, got] : restored) {
    if (!recorded.count(db) && got.keys > 0) {
      out.push_back(
          absl::StrCat("db", db, ": ", got.keys, " keys restored where the backup recorded none"));
    }
  }
  return out;
}

}  // namespace mdb::engine::redis
