// The views of restore drills: `cluster drills ID` and the VERIFIED column of `backup list`.
#include "cli/view_json.h"

namespace mdb::cli {

using internal::Guarded;
using internal::Json;
using internal::Parse;
using internal::Render;
using internal::Str;
using internal::TimeOf;
using internal::When;

namespace {

std::string Result(const Json& v, const ViewOptions& view) {
  const bool ok = v.value("ok", false);
  return absl::StrCat(ok ? "passed " : "FAILED ", When(TimeOf(v, "verifiedAt"), view));
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> VerifiedCells(const std::string& json,
                                                                 const ViewOptions& view) {
  std::map<std::string, std::string> out;
  absl::Status st = Guarded([&]() -> absl::StatusOr<std::string> {
                      auto r = Parse(json);
                      if (!r.ok()) return r.status();
                      for (const Json& b : r->value("backups", Json::array())) {
                        auto v = b.find("verification");
                        out[Str(b, "backupId")] = v == b.end() ? "never" : Result(*v, view);
                      }
                      return std::string();
                    }).status();
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::string> RenderVerifications(const std::string& json, const ViewOptions& view) {
  return Guarded([&]() -> absl::StatusOr<std::string> {
    auto r = Parse(json);
    if (!r.ok()) return r.status();
    std::vector<std::vector<std::string>> rows;
    std::string details;
    for (const Json& b : r->value("backups", Json::array())) {
      auto v = b.find("verification");
      if (v == b.end()) {
        rows.push_back(
            {Str(b, "backupId"), When(TimeOf(b, "createdAt"), view), "never", "-", "-", "-"});
        continue;
      }
      const int64_t ms = internal::Int(*v, "durationMs");
      rows.push_back({Str(b, "backupId"), When(TimeOf(b, "createdAt"), view), Result(*v, view),
                      Str(*v, "target"), ms < 0 ? "-" : absl::StrCat(ms / 1000, " s"),
                      Str(*v, "message", "")});
      for (const Json& line : v->value("checked", Json::array())) {
        if (line.is_string()) {
          absl::StrAppend(&details, Str(b, "backupId"), ": ", line.get<std::string>(), "\n");
        }
      }
    }
    std::string out =
        rows.empty()
            ? "no backups\n"
            : FormatTable({"BACKUP", "CREATED", "DRILL", "TARGET", "TOOK", "WHY IT FAILED"}, rows);
    const absl::Time last = TimeOf(*r, "lastVerifiedAt");
    absl::StrAppend(&out, "last passed drill: ",
                    last == absl::InfinitePast() ? "none yet" : When(last, view), "\n");
    if (!details.empty()) absl::StrAppend(&out, "\nchecked:\n", details);
    return Render(*r, view, out, &json);
  });
}

}  // namespace mdb::cli
