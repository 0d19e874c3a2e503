#include "engine/mongodb/reply_guard.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/mongodb/mongo_conn.h"

namespace mdb::engine::mongodb {
namespace {

// MongoDB announces (and never exceeds) 48,000,000 bytes per message.
constexpr uint32_t kMaxReplyBytes = 64 << 20;
constexpr int32_t kOpReply = 1;
constexpr int32_t kOpMsg = 2013;

}  // namespace

std::string BsonProblem(const uint8_t* data, size_t len) {
  // bson_iter_t is 128-byte aligned by an attribute of libbson's typedef, which does not reach
  // std::allocator (UBSan saw misaligned iterators in a vector of them); a struct's alignas does.
  struct alignas(128) Level {
    bson_iter_t it;
  };
  // Grown as documents nest (most are flat): not kMaxBsonDepth zeroed levels for every document.
  std::vector<Level> levels(1);
  size_t depth = 1;
  if (!bson_iter_init_from_data(&levels[0].it, data, len)) {
    return "a document whose length or last byte is wrong";
  }
  while (depth > 0) {
    bson_iter_t* it = &levels[depth - 1].it;
    if (!bson_iter_next(it)) {
      if (it->err_off != 0) {  // libbson's mark of a malformed element, as against the end
        return absl::StrCat("a malformed BSON element ", depth, " levels deep");
      }
      --depth;
      continue;
    }
    const uint8_t* child = nullptr;
    uint32_t child_len = 0;
    if (BSON_ITER_HOLDS_DOCUMENT(it)) {
      bson_iter_document(it, &child_len, &child);
    } else if (BSON_ITER_HOLDS_ARRAY(it)) {
      bson_iter_array(it, &child_len, &child);
    } else if (BSON_ITER_HOLDS_CODEWSCOPE(it)) {
      bson_iter_codewscope(it, nullptr, &child_len, &child);
    } else {
      continue;
    }
    if (depth >= kMaxBsonDepth) {
      return absl::StrCat("documents nested deeper than ", kMaxBsonDepth, " levels");
    }
    if (levels.size() == depth) levels.emplace_back();  // `it` is not used past this point
    // bson_iter_next checks that a nested document fits in its parent, not its length or end.
    if (!child || !bson_iter_init_from_data(&levels[depth].it, child, child_len)) {
      return absl::StrCat("a document ", depth + 1,
                          " levels deep whose length or last byte is wrong");
    }
    ++depth;
  }
  return "";
}

namespace {

// libmongoc ends a cursor at the first element of a batch that is not a document.
std::string BatchProblem(const uint8_t* body, size_t len) {
  bson_iter_t it, cursor;
  if (!bson_iter_init_from_data(&it, body, len) || !bson_iter_find(&it, "cursor") ||
      !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &cursor)) {
    return "";
  }
  while (bson_iter_next(&cursor)) {
    const char* key = bson_iter_key(&cursor);
    if (!BSON_ITER_HOLDS_ARRAY(&cursor) ||
        (strcmp(key, "firstBatch") != 0 && strcmp(key, "nextBatch") != 0)) {
      continue;
    }
    bson_iter_t batch;
    if (!bson_iter_recurse(&cursor, &batch)) continue;
    while (bson_iter_next(&batch)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&batch)) {
        return absl::StrCat("a cursor batch holding something other than a document (at '",
                            bson_iter_key(&batch), "')");
      }
    }
  }
  return "";
}

}  // namespace

std::string ReplyProblem(const std::string& m) {
  const auto* p = reinterpret_cast<const uint8_t*>(m.data());
  const size_t len = m.size();
  if (len < 16) return "a message shorter than its header";  // (the guard never passes one)
  int32_t opcode;
  memcpy(&opcode, p + 12, 4);
  if (opcode == kOpReply) {  // the handshake's answer: flags, cursor id, start, count, documents
    size_t pos = 36;
    if (len < pos + 5) return "an OP_REPLY without a document";
    while (pos < len) {
      uint32_t size = 0;
      if (len - pos >= 4) memcpy(&size, p + pos, 4);
      if (size < 5 || size > len - pos) {
        return absl::StrCat("an OP_REPLY document declaring ", size, " bytes where ", len - pos,
                            " remain");
      }
      if (std::string why = BsonProblem(p + pos, size); !why.empty()) return why;
      pos += size;
    }
    return "";
  }
  if (opcode != kOpMsg) {
    return absl::StrCat("a message of opcode ", opcode, " (only OP_MSG and OP_REPLY answer)");
  }
  if (len < 21) return "an OP_MSG without a section";
  uint32_t flags;
  memcpy(&flags, p + 16, 4);
  // libmongoc would read a checksum as one more section; it never asks for one.
  if (flags & 1) return "an OP_MSG with a checksum, which was not asked for";
  size_t pos = 20;
  for (int section = 0; pos < len; ++section) {
    // libmongoc has room for two sections and takes the first as the reply's body.
    if (section == 2) return "an OP_MSG with more than two sections";
    const uint8_t kind = p[pos];
    uint32_t size = 0;
    if (len - pos >= 5) memcpy(&size, p + pos + 1, 4);
    if (size < 5 || size > len - pos - 1) {
      return absl::StrCat("an OP_MSG section declaring ", size, " bytes where ", len - pos - 1,
                          " remain");
    }
    const uint8_t* data = p + pos + 1;
    if (kind == 0) {
      if (std::string why = BsonProblem(data, size); !why.empty()) return why;
      if (section == 0) {
        if (std::string why = BatchProblem(data, size); !why.empty()) return why;
      }
    } else if (kind != 1 || section == 0) {
      return absl::StrCat("an OP_MSG whose section ", section + 1, " is of kind ",
                          static_cast<int>(kind));
    } else if (!memchr(data + 4, 0, size - 4)) {
      return "an OP_MSG document sequence without its identifier";
    }
    pos += 1 + size;
  }
  return "";
}

namespace {

// A stream over libmongoc's own that reads each reply whole into a buffer of its own, checks it
// (ReplyProblem), and only then hands it out. A refused reply fails the read (libmongoc closes
// the connection) and its reason goes to `refused`, the MongoConn's, for its error messages.
class ReplyGuard {
 public:
  static mongoc_stream_t* Wrap(mongoc_stream_t* base, std::string* refused) {
    auto* s = new Stream{};
    s->guard = new ReplyGuard(base, refused);
    mongoc_stream_t& v = s->vtable;
    v.type = 0;  // none of libmongoc's own: it polls the root (socket) stream, not this one
    v.destroy = [](mongoc_stream_t* st) { Free(st, false); };
    v.failed = [](mongoc_stream_t* st) { Free(st, true); };
    v.close = [](mongoc_stream_t* st) { return mongoc_stream_close(Of(st)->base_); };
    v.flush = [](mongoc_stream_t* st) { return mongoc_stream_flush(Of(st)->base_); };
    v.writev = [](mongoc_stream_t* st, mongoc_iovec_t* iov, size_t iovcnt, int32_t timeout_msec) {
      return mongoc_stream_writev(Of(st)->base_, iov, iovcnt, timeout_msec);
    };
    v.readv = [](mongoc_stream_t* st, mongoc_iovec_t* iov, size_t iovcnt, size_t min_bytes,
                 int32_t timeout_msec) {
      return Of(st)->Readv(iov, iovcnt, /*blocking=*/min_bytes > 0, timeout_msec);
    };
    v.setsockopt = [](mongoc_stream_t* st, int level, int optname, void* optval,
                      mongoc_socklen_t optlen) {
      return mongoc_stream_setsockopt(Of(st)->base_, level, optname, optval, optlen);
    };
    v.get_base_stream = [](mongoc_stream_t* st) { return Of(st)->base_; };
    v.check_closed = [](mongoc_stream_t* st) { return mongoc_stream_check_closed(Of(st)->base_); };
    v.timed_out = [](mongoc_stream_t* st) { return mongoc_stream_timed_out(Of(st)->base_); };
    // Whether a failed read only would have blocked (a non-blocking read of the handshake).
    v.should_retry = [](mongoc_stream_t* st) { return !Of(st)->failed_ && Of(st)->retry_; };
    return &s->vtable;
  }

 private:
  struct Stream {  // what libmongoc holds: its function table first, as in its own streams
    mongoc_stream_t vtable;
    ReplyGuard* guard;
  };

  ReplyGuard(mongoc_stream_t* base, std::string* refused) : base_(base), refused_(refused) {}
  static ReplyGuard* Of(mongoc_stream_t* s) { return reinterpret_cast<Stream*>(s)->guard; }

  static void Free(mongoc_stream_t* s, bool failed) {
    auto* stream = reinterpret_cast<Stream*>(s);
    if (failed) {
      mongoc_stream_failed(stream->guard->base_);
    } else {
      mongoc_stream_destroy(stream->guard->base_);
    }
    delete stream->guard;
    delete stream;
  }

  ssize_t Readv(mongoc_iovec_t* iov, size_t iovcnt, bool blocking, int32_t timeout_msec) {
    if (!whole_ && !Fill(blocking, timeout_msec)) {
      if (failed_) errno = EPROTO;
      return -1;  // otherwise errno is the base stream's
    }
    ssize_t n = 0;
    for (size_t i = 0; i < iovcnt && handed_ < msg_.size(); ++i) {
      size_t k = std::min(iov[i].iov_len, msg_.size() - handed_);
      memcpy(iov[i].iov_base, msg_.data() + handed_, k);
      handed_ += k;
      n += static_cast<ssize_t>(k);
    }
    if (handed_ == msg_.size()) {  // all given: the next read starts the next reply
      whole_ = false;
      have_ = handed_ = 0;
      if (msg_.capacity() > (1 << 20)) {
        std::string().swap(msg_);  // a large reply's buffer is not kept for the small ones
      } else {
        msg_.clear();
      }
    }
    return n;
  }

  // Reads until msg_ is one whole, checked reply. False when a read failed or (not blocking)
  // would block, or when the reply is refused.
  bool Fill(bool blocking, int32_t timeout_msec) {
    if (failed_) return false;
    for (;;) {
      if (msg_.size() < 4) msg_.resize(4);
      if (have_ == 4 && msg_.size() == 4) {  // the length, refused before anything is allocated
        uint32_t len;
        memcpy(&len, msg_.data(), 4);
        if (len < 16 || len > kMaxReplyBytes) {
          return Refuse(absl::StrCat("a message declaring ", len, " bytes (more than ",
                                     kMaxReplyBytes, " are never read)"));
        }
        msg_.resize(len);
      }
      if (have_ == msg_.size() && have_ >= 16) {
        if (std::string why = ReplyProblem(msg_); !why.empty()) return Refuse(why);
        whole_ = true;
        retry_ = false;
        return true;
      }
      const size_t want = msg_.size() - have_;
      ssize_t got =
          mongoc_stream_read(base_, msg_.data() + have_, want, blocking ? want : 0, timeout_msec);
      if (got <= 0) {
        retry_ = mongoc_stream_should_retry(base_);
        return false;
      }
      have_ += static_cast<size_t>(got);
    }
  }

  bool Refuse(const std::string& why) {
    failed_ = true;
    retry_ = false;
    *refused_ = absl::StrCat("reply refused: ", why);
    return false;
  }

  mongoc_stream_t* base_;
  std::string* refused_;
  std::string msg_;      // the reply being read; nothing of it is handed out before it is whole
  size_t have_ = 0;      // bytes of msg_ read from base_
  size_t handed_ = 0;    // bytes of msg_ given to libmongoc
  bool whole_ = false;   // msg_ is a whole reply that passed the checks
  bool failed_ = false;  // a reply was refused: the connection is done
  bool retry_ = false;   // the last failed read of base_ only would have blocked
};

}  // namespace

mongoc_stream_t* WrapInReplyGuard(mongoc_stream_t* base, std::string* refused) {
  return ReplyGuard::Wrap(base, refused);
}

}  // namespace mdb::engine::mongodb
