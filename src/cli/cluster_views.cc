// The views of clusters: `cluster list`, `cluster status`, `cluster window`.
#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/view_json.h"
#include "cli/views.h"

namespace mdb::cli {

using namespace internal;  // NOLINT: the views' shared helpers

absl::StatusOr<std::string> RenderClusters(
    const std::vector<std::pair<std::string, std::string>>& pages, const ViewOptions& view) {
  return Guarded([&]() -> absl::StatusOr<std::string> {
    std::vector<Json> clusters;
    for (const auto& [engine, text] : pages) {
      auto page = Parse(text);
      if (!page.ok()) return page.status();
      for (Json c : page->value("clusters", Json::array())) {
        if (!c.is_object()) return absl::DataLossError("a cluster in the reply is not an object");
        if (pages.size() > 1) c["engine"] = engine;
        clusters.push_back(std::move(c));
      }
    }
    std::stable_sort(clusters.begin(), clusters.end(),
                     [](const Json& a, const Json& b) { return Str(a, "id") < Str(b, "id"); });
    const bool engines = pages.size() > 1;
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : clusters) {
      const bool target = c.contains("labels") && c["labels"].is_object() &&
                          c["labels"].value("restore_target", "") == "true";
      std::vector<std::string> row{Str(c, "id")};
      if (engines) row.push_back(Str(c, "engine"));
      for (std::string cell : {Str(c, "name"), Str(c, "folderId"), Str(c, "status"),
                               std::string(target ? "restore target" : "protected")}) {
        row.push_back(std::move(cell));
      }
      rows.push_back(std::move(row));
    }
    std::vector<std::string> header{"ID"};
    if (engines) header.push_back("ENGINE");
    for (const char* h : {"NAME", "FOLDER", "STATUS", "ROLE"}) header.push_back(h);
    Json doc = Json::object();
    doc["clusters"] = clusters;
    return Render(doc, view, rows.empty() ? "no clusters\n" : FormatTable(header, rows),
                  pages.size() == 1 ? &pages.front().second : nullptr);
  });
}

absl::StatusOr<std::string> RenderClusterStatus(const std::string& engine,
                                                const std::string& cluster_json,
                                                const std::vector<std::string>& backup_pages,
                                                const std::string& operations_json,
                                                const ViewOptions& view) {
  return Guarded([&]() -> absl::StatusOr<std::string> {
    auto cluster = Parse(cluster_json);
    if (!cluster.ok()) return cluster.status();
    auto operations = Parse(operations_json);
    if (!operations.ok()) return operations.status();
    std::vector<Json> backups;
    for (const auto& text : backup_pages) {
      auto page = Parse(text);
      if (!page.ok()) return page.status();
      for (const Json& b : page->value("backups", Json::array())) backups.push_back(b);
    }
    int64_t stored = 0;
    for (const auto& b : backups)
      stored += std::max<int64_t>(0, std::max(Int(b, "size"), Int(b, "sizeBytes")));
    const bool target = cluster->contains("labels") && (*cluster)["labels"].is_object() &&
                        (*cluster)["labels"].value("restore_target", "") == "true";
    std::vector<std::vector<std::string>> rows = {
        {"cluster:", absl::StrCat(Str(*cluster, "id"), " (", engine, ")")},
        {"name:", Str(*cluster, "name")},
        {"folder:", Str(*cluster, "folderId")},
        {"role:", target ? "restore target (not backed up)" : "protected"},
        {"backups:",
         absl::StrCat(backups.size(),
                      stored > 0 ? absl::StrCat(", ", HumanBytes(stored), " referenced") : "")},
    };
    // The schedule, from the cluster's config (engines whose Cluster has one).
    if (auto cfg = cluster->find("config"); cfg != cluster->end() && cfg->is_object()) {
      if (auto w = cfg->find("backupWindowStart"); w != cfg->end() && w->is_object()) {
        const int hours = w->value("hours", 0), minutes = w->value("minutes", 0);
        std::string kept;
        if (auto days = cfg->find("backupRetainPeriodDays"); days != cfg->end()) {
          kept = absl::StrCat(", kept ",
                              days->is_string() ? days->get<std::string>() : days->dump(), " days");
        }
        rows.push_back({"schedule:", absl::StrFormat("AUTOMATED daily at %02d:%02d UTC (+ up to "
                                                     "10 min)%s",
                                                     hours, minutes, kept)});
        absl::CivilDay today = absl::ToCivilDay(view.now, absl::UTCTimeZone());
        absl::Time next = absl::FromCivil(
            absl::CivilMinute(today.year(), today.month(), today.day(), hours, minutes),
            absl::UTCTimeZone());
        if (next <= view.now) next += absl::Hours(24);
        rows.push_back(
            {"next AUTOMATED:", absl::StrCat(When(next, view), " (", Age(next, view.now), ")")});
      }
    }
    auto newest = [&](const char* key, const char* value) -> const Json* {
      for (const auto& b : backups) {  // newest first
        if (!key || Str(b, key) == value) return &b;
      }
      return nullptr;
    };
    auto describe = [&](const Json* b) {
      absl::Time t = TimeOf(*b, "createdAt");
      return absl::StrCat(When(t, view), " (", Age(t, view.now), ")  ", Str(*b, "id"));
    };
    for (auto [label, key, value] : {std::tuple{"last backup:", (const char*)nullptr, ""},
                                     std::tuple{"last BASE:", "method", "BASE"},
                                     std::tuple{"last INCREMENTAL:", "method", "INCREMENTAL"},
                                     std::tuple{"last AUTOMATED:", "type", "AUTOMATED"},
                                     std::tuple{"last MANUAL:", "type", "MANUAL"}}) {
      if (const Json* b = newest(key, value)) {
        rows.push_back({label, describe(b)});
      } else if (!key) {
        rows.push_back({label, "none"});
      }
    }
    if (!backups.empty()) {
      std::string window = absl::StrCat(When(TimeOf(backups.back(), "createdAt"), view), " to ",
                                        When(TimeOf(backups.front(), "createdAt"), view));
      if (engine == "greenplum") absl::StrAppend(&window, " and on, as far as WAL is archived");
      rows.push_back({"restorable:", window});
    }
    // Operations (newest first): every running one with its progress, and the last that ended.
    const Json ops = operations->value("operations", Json::array());
    int ended = 0;
    for (const Json& op : ops) {
      if (!op.is_object()) return absl::DataLossError("an operation in the reply is not an object");
      const std::string what = absl::StrCat(Str(op, "description"), "  ", Str(op, "id"));
      if (!op.value("done", false)) {
        const Json meta = op.value("metadata", Json::object());
        const int64_t done = meta.is_object() ? Int(meta, "bytesDone") : 0;
        const int64_t total = meta.is_object() ? Int(meta, "bytesTotal") : 0;
        const absl::Time since = TimeOf(op, "createdAt");
        rows.push_back(
            {"running:", absl::StrCat(what, "  ", ProgressLine(done, total, done, 0), "  since ",
                                      When(since, view), " (", Age(since, view.now), ")")});
      } else if (ended++ < 3) {
        std::string outcome = "done";
        if (auto e = op.find("error"); e != op.end() && e->is_object()) {
          outcome = absl::StrCat("FAILED: ", Str(*e, "message", ""));
        }
        const absl::Time at = TimeOf(op, "modifiedAt");
        rows.push_back(
            {ended == 1 ? "last operations:" : "",
             absl::StrCat(When(at, view), " (", Age(at, view.now), ")  ", what, "  ", outcome)});
      }
    }
    std::string table = FormatTable({"", ""}, rows);
    Json doc = Json::object();
    doc["cluster"] = *cluster;
    doc["backups"] = backups;
    doc["operations"] = ops;
    return Render(doc, view, table.substr(table.find('\n') + 1));
  });
}

absl::StatusOr<std::string> RenderRecoveryWindow(const std::string& json, const ViewOptions& view) {
  return Guarded([&]() -> absl::StatusOr<std::string> {
    auto w = Parse(json);
    if (!w.ok()) return w.status();
    const bool pitr = w->value("pointInTime", false);
    const Json spans = w->value("spans", Json::array());
    std::vector<std::vector<std::string>> facts = {{"cluster:", Str(*w, "clusterId")}};
    if (spans.empty()) {
      facts.push_back({"reaches:", "nothing yet: the cluster has no backup"});
    } else if (pitr) {
      facts.push_back({"reaches:", absl::StrCat("any moment inside the spans below (point in "
                                                "time), from ",
                                                When(TimeOf(*w, "earliest"), view), " to before ",
                                                When(TimeOf(*w, "latest"), view))});
      facts.push_back({"ends because:", Str(*w, "latestReason")});
    } else {
      facts.push_back({"reaches:", absl::StrCat("the backups' own points (", spans.size(),
                                                "), no point in time between them")});
    }
    std::string out = FormatTable({"", ""}, facts);
    out = out.substr(out.find('\n') + 1);
    std::vector<std::vector<std::string>> rows;
    for (const Json& s : spans) {
      std::string ids;
      for (const Json& id : s.value("backupIds", Json::array())) {
        absl::StrAppend(&ids, ids.empty() ? "" : " ", id.is_string() ? id.get<std::string>() : "?");
      }
      rows.push_back({When(TimeOf(s, "from"), view), When(TimeOf(s, "to"), view), ids});
    }
    if (!rows.empty()) absl::StrAppend(&out, "\n", FormatTable({"FROM", "TO", "BACKUPS"}, rows));
    rows.clear();
    for (const Json& g : w->value("gaps", Json::array())) {
      rows.push_back(
          {When(TimeOf(g, "from"), view), When(TimeOf(g, "to"), view), Str(g, "reason")});
    }
    if (!rows.empty()) absl::StrAppend(&out, "\n", FormatTable({"GAP FROM", "TO", "WHY"}, rows));
    return Render(*w, view, out, &json);
  });
}

}  // namespace mdb::cli
