// Owning handles for libmongoc's C objects, and cursor iteration with errors as statuses.
#pragma once

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "engine/mongodb/mongo_conn.h"

namespace mdb::engine::mongodb {

struct CursorFree {
  void operator()(mongoc_cursor_t* c) const { mongoc_cursor_destroy(c); }
};
struct CollectionFree {
  void operator()(mongoc_collection_t* c) const { mongoc_collection_destroy(c); }
};
struct DatabaseFree {
  void operator()(mongoc_database_t* d) const { mongoc_database_destroy(d); }
};
struct BulkFree {
  void operator()(mongoc_bulk_operation_t* b) const { mongoc_bulk_operation_destroy(b); }
};
using Cursor = std::unique_ptr<mongoc_cursor_t, CursorFree>;
using Collection = std::unique_ptr<mongoc_collection_t, CollectionFree>;
using Database = std::unique_ptr<mongoc_database_t, DatabaseFree>;
using Bulk = std::unique_ptr<mongoc_bulk_operation_t, BulkFree>;

// Documents per find/getMore batch: fewer round trips than the server's default of 101. MongoDB
// also ends a batch at 16 MiB, but not every server does (FerretDB 1.x sends whole batches past its
// own 48 MB message limit), so the count is kept moderate.
constexpr int kFindBatch = 2000;

// Appends the fields of `from` except `skip` to `to`; false for a field libbson cannot append
// (a malformed document: its own bson_copy_to_excluding aborts the process there).
bool CopyExcept(const bson_t* from, bson_t* to, std::initializer_list<std::string_view> skip);

// Calls `each` for every document of `cursor` (stopping at its first error), then reports the
// cursor's own error, naming `what`.
absl::Status ForEach(MongoConn* conn, mongoc_cursor_t* cursor, const std::string& what,
                     const std::function<absl::Status(const bson_t*)>& each);

// Field helpers: the value of `key` in `doc` when it has that type.
std::string GetString(const bson_t* doc, const char* key);
bool GetDocument(const bson_t* doc, const char* key, Bson* out);  // documents and arrays

}  // namespace mdb::engine::mongodb
