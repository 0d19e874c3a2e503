// What the CLI prints of API replies: for people, aligned tables with sizes in binary units
// ("1.4 GiB") and ages ("3h ago") beside local (or UTC) times; for scripts, the API's own proto3
// JSON as it came (--format json) or the same document as YAML (--format yaml). Replies are read
// with a JSON library (nlohmann), never searched as text.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mdb::cli {

enum class Format { kTable, kJson, kYaml };

struct ViewOptions {
  Format format = Format::kTable;
  absl::TimeZone zone = absl::LocalTimeZone();  // times in tables; UTC with --utc
  absl::Time now = absl::Now();                 // ages are relative to it
};

// 1023 -> "1023 B", 1536 -> "1.5 KiB", 1.4 GiB -> "1.4 GiB".
std::string HumanBytes(int64_t bytes);
// "just now", "42s ago", "3m ago", "5h ago", "2d ago"; a time ahead of `now` is "in 3m".
std::string Age(absl::Time t, absl::Time now);
// Columns padded to their widest cell, two spaces apart; no trailing blanks.
std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);
// A JSON document as YAML (block style; strings quoted where YAML would read them otherwise).
absl::StatusOr<std::string> JsonToYaml(const std::string& json);

// Backup list pages (engine name, the REST reply of BackupService.List or ClusterService.
// ListBackups), merged newest first. Table: ID, ENGINE (when more than one), CLUSTER, TYPE,
// METHOD, CREATED, AGE, SIZE. JSON/YAML: {"backups": [...]} with each backup's "engine" added
// when more than one engine is listed.
// `verified` (backup id -> cell, VerifiedCells) adds a VERIFIED column when given.
absl::StatusOr<std::string> RenderBackups(
    const std::vector<std::pair<std::string, std::string>>& pages, const ViewOptions& view,
    const std::map<std::string, std::string>* verified = nullptr);
// One backup (BackupService.Get): "field: value" lines, sizes and times for people.
absl::StatusOr<std::string> RenderBackup(const std::string& json, const ViewOptions& view);
// An Operation: id, description, status (running, done, failed), times, who, and its error or
// result.
absl::StatusOr<std::string> RenderOperation(const std::string& json, const ViewOptions& view);

// ClusterService.List pages (engine name, reply), merged by id. Table: ID, ENGINE (when more
// than one), NAME, FOLDER, STATUS, ROLE (protected, or restore target).
absl::StatusOr<std::string> RenderClusters(
    const std::vector<std::pair<std::string, std::string>>& pages, const ViewOptions& view);
// `cluster status`: the cluster (ClusterService.Get's reply), its backups (ListBackups replies,
// newest first) and its newest operations (a ListOperations reply): its role, backup count and
// stored size, the newest backup of each method and type, the window a restore can reach, the
// running operations with their progress and the last three that ended.
// JSON/YAML: {"cluster": ..., "backups": [...], "operations": [...]}.
absl::StatusOr<std::string> RenderClusterStatus(const std::string& engine,
                                                const std::string& cluster_json,
                                                const std::vector<std::string>& backup_pages,
                                                const std::string& operations_json,
                                                const ViewOptions& view);

// `cluster window` (RecoveryService.GetRecoveryWindow's reply): the earliest and latest moments,
// why the window ends there, then the spans a restore reaches and the gaps between them.
// RecoveryService.ListVerifications: every backup's newest drill (drill_views.cc).
absl::StatusOr<std::string> RenderVerifications(const std::string& json, const ViewOptions& view);
// The same reply as one cell per backup id ("passed <when>", "FAILED <when>", "never").
absl::StatusOr<std::map<std::string, std::string>> VerifiedCells(const std::string& json,
                                                                 const ViewOptions& view);

absl::StatusOr<std::string> RenderRecoveryWindow(const std::string& json, const ViewOptions& view);

// A running operation's progress line: bar, percent, bytes, rate and time left, from the bytes
// done and total and the seconds since `done_at_start` bytes were done.
std::string ProgressLine(int64_t done, int64_t total, int64_t done_at_start, double seconds);

}  // namespace mdb::cli
