#include "cli/views.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/view_json.h"
#include "common/text.h"
#include "common/time_util.h"

namespace mdb::cli {
namespace internal {

absl::StatusOr<Json> Parse(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::DataLossError("the server's reply is not JSON");
  }
  return j;
}

std::string Str(const Json& j, const char* key, const std::string& fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// int64 fields come as decimal strings in proto3 JSON; -1 when absent or not a number.
int64_t Int(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return -1;
  if (it->is_number_integer()) return it->get<int64_t>();
  int64_t v = -1;
  if (it->is_string()) (void)absl::SimpleAtoi(it->get<std::string>(), &v);
  return v;
}

absl::Time TimeOf(const Json& j, const char* key) {
  absl::Time t = absl::InfinitePast();
  std::string err;
  if (auto it = j.find(key); it != j.end() && it->is_string()) {
    (void)absl::ParseTime(absl::RFC3339_full, it->get<std::string>(), &t, &err);
  }
  return t;
}

std::string When(absl::Time t, const ViewOptions& view) {
  if (t == absl::InfinitePast()) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S %Ez", t, view.zone);
}

// The backup's size as its engine reports it: size (Greenplum, MongoDB), sizeBytes (OpenSearch).
std::string SizeOf(const Json& b) {
  int64_t size = Int(b, "size");
  if (size < 0) size = Int(b, "sizeBytes");
  return size < 0 ? "-" : HumanBytes(size);
}

// JSON: `raw` (the reply as the API sent it) when there is one, else the document built here.
std::string Render(const Json& doc, const ViewOptions& view, const std::string& table,
                   const std::string* raw) {
  if (view.format == Format::kJson) return (raw ? *raw : doc.dump()) + "\n";
  if (view.format == Format::kYaml) return JsonToYaml(doc.dump()).value_or("");
  return table;
}

void EmitYaml(YAML::Emitter* out, const Json& j) {
  if (j.is_object()) {
    *out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      *out << YAML::Key << k << YAML::Value;
      EmitYaml(out, v);
    }
    *out << YAML::EndMap;
  } else if (j.is_array()) {
    *out << YAML::BeginSeq;
    for (const auto& v : j) EmitYaml(out, v);
    *out << YAML::EndSeq;
  } else if (j.is_string()) {
    // Quoted always: "true", "0123" or a time would read back as a bool, a number or a date.
    *out << YAML::DoubleQuoted << j.get<std::string>();
  } else if (j.is_null()) {
    *out << YAML::Null;
  } else {
    *out << j.dump();  // numbers and booleans as JSON spells them
  }
}

}  // namespace internal

using namespace internal;  // NOLINT: this file's own helpers

std::string HumanBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  return absl::StrFormat("%.1f %s", v, units[u]);
}

std::string Age(absl::Time t, absl::Time now) {
  absl::Duration d = now - t;
  const bool ahead = d < absl::ZeroDuration();
  if (ahead) d = -d;
  if (d < absl::Seconds(1)) return "just now";
  std::string n;
  if (d < absl::Minutes(1)) {
    n = absl::StrCat(absl::ToInt64Seconds(d), "s");
  } else if (d < absl::Hours(1)) {
    n = absl::StrCat(absl::ToInt64Minutes(d), "m");
  } else if (d < absl::Hours(48)) {
    n = absl::StrCat(absl::ToInt64Hours(d), "h");
  } else {
    n = absl::StrCat(absl::ToInt64Hours(d) / 24, "d");
  }
  return ahead ? absl::StrCat("in ", n) : absl::StrCat(n, " ago");
}

namespace {

// A cell as one line of printable text (common::OneLine): the server's strings (an operation's
// error quotes a source database's message, which a hostile or merely chatty server fills with
// newlines, tabs, terminal escape sequences or bytes that are not UTF-8) would otherwise break the
// table or drive the operator's terminal.
std::string OneLine(const std::string& cell) { return common::OneLine(cell, 64 << 10); }

}  // namespace

std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& raw_rows) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(raw_rows.size());
  for (const auto& r : raw_rows) {
    auto& row = rows.emplace_back();
    for (const auto& cell : r) row.push_back(OneLine(cell));
  }
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t c = 0; c < cells.size() && c < width.size(); ++c) {
      absl::StrAppend(&l, cells[c]);
      if (c + 1 < cells.size()) l.append(width[c] - cells[c].size() + 2, ' ');
    }
    absl::StrAppend(&out, l, "\n");
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

absl::StatusOr<std::string> JsonToYaml(const std::string& json) {
  auto j = Parse(json);
  if (!j.ok()) return j.status();
  YAML::Emitter out;
  EmitYaml(&out, *j);
  return absl::StrCat(out.c_str(), "\n");
}

absl::StatusOr<std::string> RenderBackups(
    const std::vector<std::pair<std::string, std::string>>& pages, const ViewOptions& view,
    const std::map<std::string, std::string>* verified) {
  return Guarded([&]() -> absl::StatusOr<std::string> {
    std::vector<Json> backups;
    bool more = false;
    for (const auto& [engine, text] : pages) {
      auto page = Parse(text);
      if (!page.ok()) return page.status();
      if (!page->is_object()) return absl::DataLossError("the reply is not a list of backups");
      more |= page->contains("nextPageToken");
      auto it = page->find("backups");
      if (it == page->end()) continue;  // an empty list is {} in proto3 JSON
      if (!it->is_array()) return absl::DataLossError("'backups' in the reply is not a list");
      for (Json b : *it) {
        if (!b.is_object()) return absl::DataLossError("a backup in the reply is not an object");
        if (pages.size() > 1) b["engine"] = engine;
        backups.push_back(std::move(b));
      }
    }
    std::stable_sort(backups.begin(), backups.end(), [](const Json& a, const Json& b) {
      return TimeOf(a, "createdAt") > TimeOf(b, "createdAt");
    });
    const bool engines = pages.size() > 1;
    std::vector<std::vector<std::string>> rows;
    for (const auto& b : backups) {
      std::vector<std::string> row{Str(b, "id")};
      if (engines) row.push_back(Str(b, "engine"));
      absl::Time created = TimeOf(b, "createdAt");
      for (std::string cell :
           {Str(b, "sourceClusterId"), Str(b, "type"), Str(b, "method"), When(created, view),
            created == absl::InfinitePast() ? "-" : Age(created, view.now), SizeOf(b)}) {
        row.push_back(std::move(cell));
      }
      if (verified) {
        auto v = verified->find(Str(b, "id"));
        row.push_back(v == verified->end() ? "-" : v->second);
      }
      rows.push_back(std::move(row));
    }
    std::vector<std::string> header{"ID"};
    if (engines) header.push_back("ENGINE");
    for (const char* h : {"CLUSTER", "TYPE", "METHOD", "CREATED", "AGE", "SIZE"})
      header.push_back(h);
    if (verified) header.push_back("VERIFIED");
    std::string table = rows.empty() ? "no backups\n" : FormatTable(header, rows);
    if (more) {
      absl::StrAppend(&table,
                      "(more backups than shown: give --page-size, up to 1000, or "
                      "--format json for the page token)\n");
    }
    Json doc = Json::object();
    doc["backups"] = backups;
    return Render(doc, view, table, pages.size() == 1 ? &pages.front().second : nullptr);
  });
}

absl::StatusOr<std::string> RenderBackup(const std::string& json, const ViewOptions& view) {
  return Guarded([&]() -> absl::StatusOr<std::string> {
    auto b = Parse(json);
    if (!b.ok()) return b.status();
    std::vector<std::vector<std::string>> rows;
    for (const auto& [key, value] : b->items()) {
      std::string shown = value.is_string() ? value.get<std::string>() : value.dump();
      const bool bytes = absl::EndsWith(key, "ize") || absl::EndsWith(key, "Bytes");
      if (bytes && Int(*b, key.c_str()) >= 0) {
        shown = absl::StrCat(HumanBytes(Int(*b, key.c_str())), " (", Int(*b, key.c_str()), ")");
      } else if (absl::EndsWith(key, "At") && TimeOf(*b, key.c_str()) != absl::InfinitePast()) {
        absl::Time t = TimeOf(*b, key.c_str());
        shown = absl::StrCat(When(t, view), " (", Age(t, view.now), ")");
      }
      rows.push_back({key + ":", shown});
    }
    std::string table = FormatTable({"", ""}, rows);
    table = table.substr(table.find('\n') + 1);  // no header for a record
    return Render(*b, view, table, &json);
  });
}

absl::StatusOr<std::string> RenderOperation(const std::string& json, const ViewOptions& view) {
  return Guarded([&]() -> absl::StatusOr<std::string> {
    auto op = Parse(json);
    if (!op.ok()) return op.status();
    const bool done = op->value("done", false);
    std::string status = !done ? "running" : op->contains("error") ? "FAILED" : "done";
    std::vector<std::vector<std::string>> rows = {
        {"id:", Str(*op, "id")},
        {"description:", Str(*op, "description")},
        {"status:", status},
        {"created:", When(TimeOf(*op, "createdAt"), view)},
        {"modified:", When(TimeOf(*op, "modifiedAt"), view)},
        {"created by:", Str(*op, "createdBy")},
    };
    if (auto it = op->find("error"); it != op->end() && it->is_object()) {
      rows.push_back(
          {"error:", absl::StrCat(Str(*it, "message", ""), " (code ", Str(*it, "code", "?"), ")")});
    }
    if (auto it = op->find("metadata"); it != op->end() && it->is_object()) {
      for (const char* key : {"clusterId", "backupId"}) {
        if (it->contains(key)) rows.push_back({absl::StrCat(key, ":"), Str(*it, key)});
      }
    }
    std::string table = FormatTable({"", ""}, rows);
    table = table.substr(table.find('\n') + 1);
    return Render(*op, view, table, &json);
  });
}

std::string ProgressLine(int64_t done, int64_t total, int64_t done_at_start, double seconds) {
  // The server's numbers: a negative or inconsistent pair must not break the bar.
  done = std::max<int64_t>(done, 0);
  total = std::max<int64_t>(total, 0);
  done_at_start = std::clamp<int64_t>(done_at_start, 0, done);
  const double rate = seconds > 0 ? static_cast<double>(done - done_at_start) / seconds : 0;
  std::string out;
  if (total > 0) {
    int filled = static_cast<int>(20.0 * static_cast<double>(std::min(done, total)) /
                                  static_cast<double>(total));
    out = absl::StrFormat("[%s%s] %3.0f%%  %s of %s", std::string(filled, '#'),
                          std::string(20 - filled, ' '), 100.0 * done / total, HumanBytes(done),
                          HumanBytes(total));
  } else {
    out = absl::StrCat(HumanBytes(done), " so far");
  }
  if (rate > 0) {
    absl::StrAppend(&out, "  ", HumanBytes(static_cast<int64_t>(std::min(rate, 1e18))), "/s");
    if (total > done) {
      absl::StrAppend(&out, "  ",
                      absl::FormatDuration(absl::Seconds(
                          static_cast<int64_t>(static_cast<double>(total - done) / rate))),
                      " left");
    }
  }
  return out;
}

}  // namespace mdb::cli
