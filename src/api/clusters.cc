// ClusterService.Get and List: the clusters this service protects, as its config declares them.
// It manages none of them, so the contract's Cluster carries what the config knows: id, folder,
// name, environment (PRODUCTION), status RUNNING, health from the last pre-flight check of its
// hosts in this process (before each backup; HEALTH_UNKNOWN until then, and for restore
// targets), the backup schedule (config.backup_window_start, UTC, and
// backup_retain_period_days), and the label `restore_target: "true"` on clusters declared to
// restore into only. Every engine's Cluster message is filled by reflection (field numbers
// differ; names do not).
#include <regex>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "api/api.h"
#include "api/fields.h"
#include "api/validation.h"
#include "common/status.h"
#include "google/protobuf/reflection.h"

namespace mdb::api {
namespace {

using google::protobuf::FieldDescriptor;

void SetInt32(Message* m, const char* name, int value) {
  const FieldDescriptor* f = m->GetDescriptor()->FindFieldByName(name);
  if (f && f->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
    m->GetReflection()->SetInt32(m, f, value);
  }
}

void SetEnum(Message* m, const char* name, const char* value) {
  const FieldDescriptor* f = m->GetDescriptor()->FindFieldByName(name);
  if (!f || !f->enum_type()) return;
  if (const auto* v = f->enum_type()->FindValueByName(value)) {
    m->GetReflection()->SetEnum(m, f, v);
  }
}

void FillCluster(const common::ClusterConfig& c, std::optional<ops::HostsProbe> probe, Message* m) {
  SetStringIfPresent(m, "id", c.id);
  SetStringIfPresent(m, "folder_id", c.folder_id);
  SetStringIfPresent(m, "name", c.name);
  SetStringIfPresent(m, "description",
                     c.restore_target
                         ? "restore target declared in mdb-backupd's config"
                         : "protected by mdb-backup (declared in mdb-backupd's config)");
  SetEnum(m, "environment", "PRODUCTION");
  SetEnum(m, "status", "RUNNING");
  using Health = ops::HostsProbe::Health;
  const Health health = probe ? probe->health : Health::kUnknown;
  SetEnum(m, "health",
          health == Health::kAlive      ? "ALIVE"
          : health == Health::kDegraded ? "DEGRADED"
          : health == Health::kDead     ? "DEAD"
                                        : "HEALTH_UNKNOWN");
  // The schedule, where the engine's Cluster has a config with one (OpenSearch's has none).
  const FieldDescriptor* config = m->GetDescriptor()->FindFieldByName("config");
  if (config && config->message_type() && !c.restore_target) {
    Message* cfg = m->GetReflection()->MutableMessage(m, config);
    if (const FieldDescriptor* w = cfg->GetDescriptor()->FindFieldByName("backup_window_start");
        w && w->message_type()) {
      Message* time = cfg->GetReflection()->MutableMessage(cfg, w);
      SetInt32(time, "hours", c.backup_window_start_minutes / 60);
      SetInt32(time, "minutes", c.backup_window_start_minutes % 60);
    }
    if (const FieldDescriptor* r =
            cfg->GetDescriptor()->FindFieldByName("backup_retain_period_days");
        r && r->message_type()) {
      Message* days = cfg->GetReflection()->MutableMessage(cfg, r);
      if (const FieldDescriptor* v = days->GetDescriptor()->FindFieldByName("value")) {
        days->GetReflection()->SetInt64(days, v, c.retention_days);
      }
    }
  }
  if (const FieldDescriptor* labels = m->GetDescriptor()->FindFieldByName("labels");
      labels && c.restore_target) {
    Message* entry = m->GetReflection()->AddMessage(m, labels);
    SetStringIfPresent(entry, "key", "restore_target");
    SetStringIfPresent(entry, "value", "true");
  }
}

}  // namespace

absl::Status Api::GetCluster(const Ctx& c, const Message& req, Message* resp) {
  ASSIGN_OR_RETURN(auto cluster, FindCluster(c, GetString(req, "cluster_id")));
  FillCluster(*cluster, jobs_ ? jobs_->LastProbe(cluster->id) : std::nullopt, resp);
  return absl::OkStatus();
}

absl::Status Api::ListClusters(const Ctx& c, const Message& req, Message* resp) {
  const std::string folder = GetString(req, "folder_id");
  if (!c.who.CanRead(folder)) {
    return absl::PermissionDeniedError(
        absl::StrCat("the token may not read folder ", Quoted(folder)));
  }
  // The one filter the contract documents for clusters: name = "<name>".
  std::optional<std::string> name;
  if (std::string filter = GetString(req, "filter"); !filter.empty()) {
    std::smatch m;
    if (!std::regex_match(filter, m, std::regex(R"re(\s*name\s*=\s*"([^"]*)"\s*)re"))) {
      return absl::InvalidArgumentError(absl::StrCat("invalid 'filter' ", Quoted(filter),
                                                     ": only name = \"<name>\" is supported"));
    }
    name = m[1].str();
  }
  ASSIGN_OR_RETURN(const int size, PageSize(req));
  // The token is the last id of the previous page (clusters are listed by id), base64url.
  std::string after;
  if (std::string token = GetString(req, "page_token"); !token.empty()) {
    if (!absl::WebSafeBase64Unescape(token, &after) || after.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid 'page_token' ", Quoted(token), ": not a token of this list"));
    }
  }
  std::vector<const common::ClusterConfig*> matching;
  for (const auto& cluster : c.snap.config->clusters) {
    if (cluster.engine != c.engine || cluster.folder_id != folder) continue;
    if (name && cluster.name != *name) continue;
    if (cluster.id <= after) continue;
    matching.push_back(&cluster);
  }
  std::sort(matching.begin(), matching.end(),
            [](const auto* a, const auto* b) { return a->id < b->id; });
  const FieldDescriptor* clusters = resp->GetDescriptor()->FindFieldByName("clusters");
  for (size_t i = 0; i < matching.size() && i < static_cast<size_t>(size); ++i) {
    FillCluster(*matching[i], jobs_ ? jobs_->LastProbe(matching[i]->id) : std::nullopt,
                resp->GetReflection()->AddMessage(resp, clusters));
  }
  if (matching.size() > static_cast<size_t>(size)) {
    SetStringIfPresent(resp, "next_page_token", absl::WebSafeBase64Escape(matching[size - 1]->id));
  }
  return absl::OkStatus();
}

// The operations of a cluster, as the catalog lists them, each with its live progress while it
// runs here. A caller who may read the cluster reads its operations; an operation of another
// folder (a restore into this cluster started from a backup elsewhere is still filed under the
// target's folder) is left out rather than shown.
absl::Status Api::ListClusterOperations(const Ctx& c, const Message& req, Message* resp) {
  ASSIGN_OR_RETURN(auto cluster, FindCluster(c, GetString(req, "cluster_id")));
  ASSIGN_OR_RETURN(const int size, PageSize(req));
  ASSIGN_OR_RETURN(auto page,
                   catalog_->ListClusterOperations({.cluster_id = cluster->id,
                                                    .page_size = size,
                                                    .page_token = GetString(req, "page_token")}));
  const FieldDescriptor* operations = resp->GetDescriptor()->FindFieldByName("operations");
  for (auto& rec : page.operations) {
    if (!c.who.CanRead(rec.folder_id)) continue;
    Message* op = resp->GetReflection()->AddMessage(resp, operations);
    op->CopyFrom(rec.operation);
    WithLiveProgress(static_cast<ops::Operation*>(op));
  }
  SetStringIfPresent(resp, "next_page_token", page.next_page_token);
  return absl::OkStatus();
}

}  // namespace mdb::api
