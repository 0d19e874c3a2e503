// The helpers the views share (views.cc defines them): reading the API's proto3 JSON replies
// defensively and writing them as tables, JSON or YAML.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/views.h"

namespace mdb::cli::internal {

using Json = nlohmann::json;

absl::StatusOr<Json> Parse(const std::string& text);
// A field as text ("-" when absent); a non-string value as its JSON.
std::string Str(const Json& j, const char* key, const std::string& fallback = "-");
// int64 fields come as decimal strings in proto3 JSON; -1 when absent or not a number.
int64_t Int(const Json& j, const char* key);
// An RFC 3339 field; InfinitePast when absent or malformed.
absl::Time TimeOf(const Json& j, const char* key);
std::string When(absl::Time t, const ViewOptions& view);
// JSON: `raw` (the reply as the API sent it) when there is one, else the document built here.
std::string Render(const Json& doc, const ViewOptions& view, const std::string& table,
                   const std::string* raw = nullptr);

// Replies are the server's: a value of an unexpected type (a proxy's page, another service)
// becomes DATA_LOSS here rather than an exception that would abort the CLI.
template <typename F>
absl::StatusOr<std::string> Guarded(F render) {
  try {
    return render();
  } catch (const Json::exception& e) {
    return absl::DataLossError(
        absl::StrCat("the server's reply is not what the API returns: ", e.what()));
  }
}

}  // namespace mdb::cli::internal
