#include "engine/mongodb/oplog_delta.h"

#include <functional>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "engine/mongodb/mongo_util.h"

namespace mdb::engine::mongodb {
namespace {

// Deltas nest as deep as the documents they change; documents nest at most kMaxBsonDepth deep
// (checked when the entry was read), so this recursion is bounded by it too.
// A field's dotted path, and all the paths one delta makes together, are bounded: each level of
// the recursion holds its path, and each change stores its own, so a 16 MiB delta nested 200
// deep with 80 KiB names once held ~1.6 GB of paths. Real paths are a few hundred bytes.
constexpr size_t kMaxPath = 64 << 10;
constexpr size_t kMaxPathBytes = 64 << 20;

struct Changes {
  size_t path_bytes = 0;                              // of the paths stored below
  std::vector<std::pair<std::string, int64_t>> cuts;  // array path, new length
  Bson unset, set;
  int unsets = 0, sets = 0;
  // Fields added: MongoDB appends them in the delta's order, where one $set of several new
  // fields would append them in name order. One $set each, in order, keeps the document's order.
  std::vector<Bson> appends;
};

absl::Status Bad(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "a v2 delta update ", what, path.empty() ? "" : " at '", path, path.empty() ? "" : "'"));
}

std::string Join(const std::string& prefix, absl::string_view field) {
  return prefix.empty() ? std::string(field) : absl::StrCat(prefix, ".", field);
}

// `path` is one this delta may hold (or store, when `out` is given: counted toward all of them).
absl::Status CheckPath(const std::string& path, Changes* out) {
  if (path.size() > kMaxPath) {
    return Bad(path.substr(0, 80) + "...", absl::StrCat("has a field path of ", path.size(),
                                                        " bytes (at most ", kMaxPath, ")"));
  }
  if (out && (out->path_bytes += path.size()) > kMaxPathBytes) {
    return Bad(path.substr(0, 80), absl::StrCat("changes fields whose paths pass ",
                                                kMaxPathBytes >> 20, " MiB together"));
  }
  return absl::OkStatus();
}

absl::Status Walk(const bson_t* diff, const std::string& path, bool array, int depth, Changes* out);

// `s<name>`: the nested change of one field (object) or element (array).
absl::Status Nested(const bson_iter_t* it, const std::string& path, int depth, Changes* out) {
  RETURN_IF_ERROR(CheckPath(path, nullptr));
  if (!BSON_ITER_HOLDS_DOCUMENT(it)) return Bad(path, "has a nested change that is no document");
  if (static_cast<size_t>(depth) > kMaxBsonDepth) return Bad(path, "is nested too deep");
  uint32_t len;
  const uint8_t* data;
  bson_iter_document(it, &len, &data);
  bson_t sub;
  if (!bson_init_static(&sub, data, len)) return Bad(path, "is malformed");
  bson_iter_t a;
  bool is_array = bson_iter_init_find(&a, &sub, "a") && bson_iter_as_bool(&a);
  return Walk(&sub, path, is_array, depth + 1, out);
}

// One field `f` as `path.<field>` into `into` (its value, or 1 for $unset).
absl::Status Field(const bson_iter_t* f, const std::string& path, bool value, Bson* into,
                   Changes* out) {
  absl::string_view name(bson_iter_key(f), bson_iter_key_len(f));
  if (name.empty() || name[0] == '$' || name.find('.') != absl::string_view::npos) {
    return Bad(Join(path, name), "names a field no update path can address");
  }
  std::string full = Join(path, name);
  RETURN_IF_ERROR(CheckPath(full, out));
  bool ok = value ? bson_append_iter(into->get(), full.c_str(), full.size(), f)
                  : bson_append_int32(into->get(), full.c_str(), full.size(), 1);
  return ok ? absl::OkStatus() : Bad(full, "holds a value that cannot be copied");
}

// Calls `each` for every field of the document `it` holds.
absl::Status EachField(const bson_iter_t* it, const std::string& path,
                       const std::function<absl::Status(const bson_iter_t*)>& each) {
  bson_iter_t f;
  if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &f)) {
    return Bad(path, "lists fields in something not a document");
  }
  while (bson_iter_next(&f)) RETURN_IF_ERROR(each(&f));
  return absl::OkStatus();
}

absl::Status Walk(const bson_t* diff, const std::string& path, bool array, int depth,
                  Changes* out) {
  bson_iter_t it;
  if (!bson_iter_init(&it, diff)) return Bad(path, "is malformed");
  while (bson_iter_next(&it)) {
    absl::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
    if (array) {
      // {a: true, l: <new length>, u<index>: value, s<index>: change}
      int64_t index;
      if (key == "a") continue;
      if (key == "l") {
        if (!BSON_ITER_HOLDS_NUMBER(&it) || bson_iter_as_int64(&it) < 0) {
          return Bad(path, "has an array length that is no length");
        }
        RETURN_IF_ERROR(CheckPath(path, out));
        out->cuts.emplace_back(path, bson_iter_as_int64(&it));
      } else if (key.size() > 1 && (key[0] == 'u' || key[0] == 's') &&
                 absl::SimpleAtoi(key.substr(1), &index) && index >= 0) {
        std::string element = Join(path, absl::StrCat(index));
        if (key[0] == 'u') RETURN_IF_ERROR(CheckPath(element, out));
        if (key[0] == 's') {
          RETURN_IF_ERROR(Nested(&it, element, depth, out));
        } else if (!bson_append_iter(out->set.get(), element.c_str(), element.size(), &it)) {
          return Bad(element, "holds a value that cannot be copied");
        } else {
          ++out->sets;
        }
      } else {
        return Bad(path, absl::StrCat("has an array change '", key.substr(0, 20), "'"));
      }
      continue;
    }
    // {d: {field: false}, u: {field: value}, i: {field: value}, s<field>: change}
    if (key == "d") {
      RETURN_IF_ERROR(EachField(&it, path, [&](const bson_iter_t* f) {
        ++out->unsets;
        return Field(f, path, /*value=*/false, &out->unset, out);
      }));
    } else if (key == "u") {
      RETURN_IF_ERROR(EachField(&it, path, [&](const bson_iter_t* f) {
        ++out->sets;
        return Field(f, path, /*value=*/true, &out->set, out);
      }));
    } else if (key == "i") {
      RETURN_IF_ERROR(EachField(&it, path, [&](const bson_iter_t* f) {
        out->appends.emplace_back();
        return Field(f, path, /*value=*/true, &out->appends.back(), out);
      }));
    } else if (key.size() > 1 && key[0] == 's') {
      absl::string_view field = key.substr(1);
      if (field[0] == '$' || field.find('.') != absl::string_view::npos) {
        return Bad(Join(path, field), "names a field no update path can address");
      }
      RETURN_IF_ERROR(Nested(&it, Join(path, field), depth, out));
    } else {
      return Bad(path, absl::StrCat("has a change '", key.substr(0, 20), "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Bson>> DeltaToUpdates(const bson_t* diff) {
  Changes changes;
  RETURN_IF_ERROR(Walk(diff, "", /*array=*/false, 0, &changes));
  std::vector<Bson> out;
  for (const auto& [path, length] : changes.cuts) {
    Bson update;
    bson_t push, each_slice, each;
    BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$push", &push);
    bson_append_document_begin(&push, path.c_str(), path.size(), &each_slice);
    BSON_APPEND_ARRAY_BEGIN(&each_slice, "$each", &each);
    bson_append_array_end(&each_slice, &each);
    BSON_APPEND_INT64(&each_slice, "$slice", length);
    bson_append_document_end(&push, &each_slice);
    bson_append_document_end(update.get(), &push);
    out.push_back(std::move(update));
  }
  if (changes.unsets + changes.sets > 0) {
    Bson update;
    if (changes.unsets) BSON_APPEND_DOCUMENT(update.get(), "$unset", changes.unset.get());
    if (changes.sets) BSON_APPEND_DOCUMENT(update.get(), "$set", changes.set.get());
    out.push_back(std::move(update));
  }
  for (const Bson& field : changes.appends) {
    Bson update;
    BSON_APPEND_DOCUMENT(update.get(), "$set", field.get());
    out.push_back(std::move(update));
  }
  return out;
}

}  // namespace mdb::engine::mongodb
