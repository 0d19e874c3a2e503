#include "engine/mongodb/mongo_util.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mdb::engine::mongodb {

bool CopyExcept(const bson_t* from, bson_t* to, std::initializer_list<std::string_view> skip) {
  bson_iter_t it;
  if (!bson_iter_init(&it, from)) return false;
  while (bson_iter_next(&it)) {
    std::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
    if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
    if (!bson_append_iter(to, key.data(), static_cast<int>(key.size()), &it)) return false;
  }
  return it.err_off == 0;
}

absl::Status ForEach(MongoConn* conn, mongoc_cursor_t* cursor, const std::string& what,
                     const std::function<absl::Status(const bson_t*)>& each) {
  const bson_t* doc;
  while (mongoc_cursor_next(cursor, &doc)) {
    absl::Status st = each(doc);
    if (!st.ok()) return st;
  }
  bson_error_t error;
  if (mongoc_cursor_error(cursor, &error)) return conn->Error(error, what);
  return absl::OkStatus();
}

std::string GetString(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)) {
    return bson_iter_utf8(&it, nullptr);
  }
  return "";
}

bool GetDocument(const bson_t* doc, const char* key, Bson* out) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key)) return false;
  if (!BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_ARRAY(&it)) return false;
  uint32_t len;
  const uint8_t* data;
  if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
    bson_iter_document(&it, &len, &data);
  } else {
    bson_iter_array(&it, &len, &data);
  }
  bson_t view;
  if (!bson_init_static(&view, data, len)) return false;
  *out = Bson(&view);
  return true;
}

}  // namespace mdb::engine::mongodb
