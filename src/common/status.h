// Status helpers shared by every module: early-return macros over absl::Status / absl::StatusOr.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define MDB_CONCAT_INNER(a, b) a##b
#define MDB_CONCAT(a, b) MDB_CONCAT_INNER(a, b)

// Returns the status of `expr` from the calling function when it is not OK.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status mdb_status_ = (expr);       \
    if (!mdb_status_.ok()) return mdb_status_; \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, Foo());` declares x from an OK StatusOr or returns its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  MDB_ASSIGN_OR_RETURN_IMPL(MDB_CONCAT(mdb_statusor_, __LINE__), lhs, expr)
#define MDB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

namespace mdb::common {

namespace internal {
// `status`'s code and payloads under a new message (status not OK).
inline absl::Status WithMessage(const absl::Status& status, absl::string_view message) {
  absl::Status out(status.code(), message);
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}
}  // namespace internal

// `status` with `context` and ": " in front of its message ("shard 'seg0' (h:5432): <message>"),
// its code and payloads unchanged; OK stays OK. The one way context is added to an error on its
// way up.
inline absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return internal::WithMessage(status, absl::StrCat(context, ": ", status.message()));
}

// `status` with "; " and `detail` after its message (what may explain it), its code and
// payloads unchanged; OK stays OK.
inline absl::Status WithDetail(const absl::Status& status, absl::string_view detail) {
  if (status.ok()) return status;
  return internal::WithMessage(status, absl::StrCat(status.message(), "; ", detail));
}

}  // namespace mdb::common
