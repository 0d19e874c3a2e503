// Every reply from a MongoDB server is checked whole before libmongoc reads any of it.
// libmongoc 1.23 (Debian 12) trusts the framing of what a server sends: an OP_MSG section longer
// than its message, or a first section that is a document sequence, makes it read and write out
// of bounds (SIGSEGV); a document in a cursor batch shorter than 5 bytes or without its final NUL
// fails an assertion (abort); a server that announces maxMessageSizeBytes of 2 GB and then sends
// a reply that large aborts it in its buffer code; a batch element whose length overruns the
// batch, or that is not a document, ends the cursor early and silently (a backup that succeeds
// without those documents). tests/hostile/test_mongodb_source.py sends each of these.
#pragma once

#include <mongoc/mongoc.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace mdb::engine::mongodb {

// What is wrong with the BSON document data[0, len) or anything nested in it (deeper than
// kMaxBsonDepth included), walked with a stack of our own; "" when nothing is.
std::string BsonProblem(const uint8_t* data, size_t len);

// What is wrong with one whole message `m` (16-byte header included) from a server; "" when
// nothing is.
std::string ReplyProblem(const std::string& m);

// A stream over `base` (libmongoc's own) that reads each reply whole, checks it (ReplyProblem),
// and only then hands it out. A refused reply fails the read (libmongoc closes the connection)
// and its reason goes to `*refused`, for error messages.
mongoc_stream_t* WrapInReplyGuard(mongoc_stream_t* base, std::string* refused);

}  // namespace mdb::engine::mongodb
