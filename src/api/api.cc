// Handlers are written once for all engines: requests are read by field name through protobuf
// reflection (every engine names its fields alike), and only the Backup message is mapped per
// engine (backup_mapping.cc). Authorization follows the rules in auth.h.
#include "api/api.h"

#include <chrono>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/backup_mapping.h"
#include "api/fields.h"
#include "api/validation.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "common/time_util.h"
#include "google/protobuf/empty.pb.h"
#include "mdb_backup/v1/recovery_service.pb.h"
#include "metrics/metrics.h"
#include "yandex/cloud/api/operation.pb.h"
#include "yandex/cloud/operation/operation_service.pb.h"

namespace mdb::api {
namespace {

using catalog::Engine;
using google::protobuf::FieldDescriptor;
using OperationTask = ::mdb_backup::v1::OperationTask;

// The request's point in time: Greenplum's `time`, MongoDB's `recovery_target_spec.timestamp`.
// InvalidArgument for a Timestamp outside its defined range (nanos 0..999,999,999, years
// 1..9999): read as is it would silently name another moment.
absl::StatusOr<std::optional<absl::Time>> GetPointInTime(const Message& m) {
  const auto* r = m.GetReflection();
  if (const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName("time");
      f && f->message_type() && r->HasField(m, f)) {
    const Message& ts = r->GetMessage(m, f);
    const auto* tr = ts.GetReflection();
    const auto* d = ts.GetDescriptor();
    int64_t seconds = tr->GetInt64(ts, d->FindFieldByName("seconds"));
    int32_t nanos = tr->GetInt32(ts, d->FindFieldByName("nanos"));
    if (nanos < 0 || nanos > 999'999'999 || seconds < -62'135'596'800 ||
        seconds > 253'402'300'799) {
      return absl::InvalidArgumentError(absl::StrCat(
          "time {seconds: ", seconds, ", nanos: ", nanos,
          "} is not a valid google.protobuf.Timestamp (nanos 0..999999999, years 1..9999)"));
    }
    return std::optional<absl::Time>(absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos));
  }
  if (const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName("recovery_target_spec");
      f && f->message_type() && r->HasField(m, f)) {
    const Message& spec = r->GetMessage(m, f);
    int64_t seconds =
        spec.GetReflection()->GetInt64(spec, spec.GetDescriptor()->FindFieldByName("timestamp"));
    if (seconds > 0) return std::optional<absl::Time>(absl::FromUnixSeconds(seconds));
  }
  return std::optional<absl::Time>();
}

// Packs a message of type `type_name` (resolved in `method`'s package unless qualified, as the
// yandex.cloud.api.operation option says) with the given id fields set.
absl::StatusOr<google::protobuf::Any> PackMetadata(const MethodDescriptor* method,
                                                   const std::string& type_name,
                                                   const std::string& cluster_id,
                                                   const std::string& backup_id,
                                                   const common::ClusterConfig* cluster = nullptr) {
  const auto* pool = method->file()->pool();
  const auto* d =
      pool->FindMessageTypeByName(absl::StrCat(method->file()->package(), ".", type_name));
  if (!d) d = pool->FindMessageTypeByName(type_name);
  const Message* proto =
      d ? google::protobuf::MessageFactory::generated_factory()->GetPrototype(d) : nullptr;
  if (!proto) return absl::InternalError(absl::StrCat("unknown metadata type '", type_name, "'"));
  std::unique_ptr<Message> m(proto->New());
  SetStringIfPresent(m.get(), "cluster_id", cluster_id);
  SetStringIfPresent(m.get(), "backup_id", backup_id);
  if (cluster) {  // a Cluster response
    SetStringIfPresent(m.get(), "id", cluster->id);
    SetStringIfPresent(m.get(), "folder_id", cluster->folder_id);
    SetStringIfPresent(m.get(), "name", cluster->name);
  }
  google::protobuf::Any any;
  any.PackFrom(*m);
  return any;
}

FailedAuthThrottle::Options ThrottleOptions(const common::Config& config) {
  return {.burst = config.server.limits.failed_auth_burst,
          .per_minute = config.server.limits.failed_auth_per_minute};
}

const ServiceDescriptor* ServiceOf(const google::protobuf::Descriptor* any_message_of_file,
                                   const char* name) {
  return any_message_of_file->file()->FindServiceByName(name);
}

}  // namespace

std::vector<const ServiceDescriptor*> PublicServices(const common::EngineTable& engines) {
  std::vector<const ServiceDescriptor*> out = engines.Services();
  // Naming a message of the file links its generated descriptors into the binary.
  out.push_back(
      ServiceOf(yandex::cloud::operation::GetOperationRequest::descriptor(), "OperationService"));
  out.push_back(
      ServiceOf(::mdb_backup::v1::GetRecoveryWindowRequest::descriptor(), "RecoveryService"));
  return out;
}

Api::Api(catalog::Catalog* catalog, ops::OperationRunner* runner, ops::BackupJobs* jobs,
         std::shared_ptr<const common::Config> config, const common::EngineTable& engines)
    : engines_(engines),
      catalog_(catalog),
      runner_(runner),
      jobs_(jobs),
      snapshot_(std::make_shared<Snapshot>(std::move(config))),
      throttle_(ThrottleOptions(*snapshot_->config)) {
  const std::pair<const char*, Handler> kByName[] = {
      {"BackupService.Get", &Api::GetBackup},
      {"BackupService.List", &Api::ListFolderBackups},
      {"BackupService.Delete", &Api::DeleteBackup},
      {"ClusterService.Get", &Api::GetCluster},
      {"ClusterService.List", &Api::ListClusters},
      {"ClusterService.ListOperations", &Api::ListClusterOperations},
      {"RecoveryService.GetRecoveryWindow", &Api::GetRecoveryWindow},
      {"RecoveryService.DrillBackup", &Api::DrillBackup},
      {"RecoveryService.ListVerifications", &Api::ListVerifications},
      {"ClusterService.ListBackups", &Api::ListClusterBackups},
      {"ClusterService.Backup", &Api::BackupCluster},
      {"ClusterService.Restore", &Api::RestoreCluster},
      {"ClusterService.DeleteBackup", &Api::DeleteBackup},
      {"OperationService.Get", &Api::GetOperation},
      {"OperationService.Cancel", &Api::CancelOperation},
  };
  for (const ServiceDescriptor* s : PublicServices(engines_)) {
    const common::EngineInfo* info = engines_.FindByPackage(s->file()->package());
    Engine engine = info ? info->engine : Engine::ENGINE_UNSPECIFIED;  // OperationService
    for (int i = 0; i < s->method_count(); ++i) {
      const MethodDescriptor* m = s->method(i);
      for (const auto& [name, handler] : kByName) {
        if (absl::StrCat(s->name(), ".", m->name()) == name) {
          routes_[m] = {handler, engine, absl::StrCat(s->full_name(), "/", m->name())};
        }
      }
    }
  }
}

void Api::Reload(std::shared_ptr<const common::Config> config) {
  throttle_.set_options(ThrottleOptions(*config));
  auto snap = std::make_shared<Snapshot>(std::move(config));
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(snap);
}

std::shared_ptr<const Api::Snapshot> Api::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

absl::StatusOr<Principal> Api::Authenticate(const Snapshot& snap, const Caller& caller) {
  // A monotonic clock: a wall clock stepped back would keep a throttled address locked.
  absl::Time now =
      absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
  RETURN_IF_ERROR(throttle_.Check(caller.address, now));
  bool guessed = false;
  auto who = snap.auth.Authenticate(caller.authorization, &guessed);
  if (guessed) throttle_.Failed(caller.address, now);
  return who;
}

absl::Status Api::Call(const MethodDescriptor* method, const Caller& caller, const Message& request,
                       Message* response) {
  auto it = routes_.find(method);
  if (it == routes_.end()) {
    return absl::UnimplementedError(
        absl::StrCat("method ", Quoted(method->full_name()), " is not served"));
  }
  const absl::Time start = absl::Now();
  absl::Status st = [&]() -> absl::Status {
    std::shared_ptr<const Snapshot> snap = snapshot();
    ASSIGN_OR_RETURN(Principal who, Authenticate(*snap, caller));
    RETURN_IF_ERROR(Validate(request));
    Ctx ctx{*snap, who, it->second.engine, method, caller.spliced};
    return (this->*(it->second.handler))(ctx, request, response);
  }();
  // Served methods only (the label stays bounded); rejected tokens included.
  metrics::Metrics::Get().ApiCall(it->second.rpc, st.code(),
                                  absl::ToDoubleSeconds(absl::Now() - start));
  return st;
}

absl::StatusOr<std::string> Api::MetricsText(const Caller& caller) {
  std::shared_ptr<const Snapshot> snap = snapshot();  // the token lives in it: kept to the end
  ASSIGN_OR_RETURN(Principal who, Authenticate(*snap, caller));
  if (!who.ReadsEverything()) {
    return absl::PermissionDeniedError(
        "/metrics spans every folder: it needs a token with read: [\"*\"]");
  }
  return metrics::Metrics::Get().Text();
}

absl::Status Api::Admit(const Caller& caller) { return Authenticate(*snapshot(), caller).status(); }

absl::Status Api::Ready() {
  // While one probe waits on a catalog that does not answer, the others get its last result
  // rather than queue behind it (each would hold a REST thread).
  std::unique_lock<std::mutex> lock(ready_mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    std::lock_guard<std::mutex> cached(ready_cached_mu_);
    return ready_cached_;
  }
  const absl::Time now = absl::Now();
  if (now - ready_checked_ < absl::Seconds(1)) return ready_;
  // A lookup by key that finds nothing: one index probe on either catalog.
  auto probe = catalog_->GetOperation("readyz-probe");
  ready_ = probe.ok() || absl::IsNotFound(probe.status())
               ? absl::OkStatus()
               : absl::UnavailableError(
                     absl::StrCat("the catalog does not answer: ", probe.status().message()));
  // The repository too (one Stat of its config object): an instance that cannot write backups
  // should not take operations.
  if (ready_.ok() && jobs_ && jobs_->has_repository()) ready_ = jobs_->ProbeRepository();
  // The probe needs no token: it says which part fails, the log says why (paths, S3 errors),
  // once per change.
  if (ready_.message() != ready_logged_) {
    ready_logged_ = std::string(ready_.message());
    if (!ready_.ok()) common::Log(common::LogLevel::kWarning, "api", ready_logged_);
  }
  if (!ready_.ok()) {
    ready_ = absl::UnavailableError(absl::StartsWith(ready_.message(), "the catalog")
                                        ? "not ready: the catalog does not answer"
                                        : "not ready: the repository does not answer");
  }
  ready_checked_ = now;
  {
    std::lock_guard<std::mutex> cached(ready_cached_mu_);
    ready_cached_ = ready_;
  }
  return ready_;
}

absl::StatusOr<catalog::BackupRecord> Api::FindBackup(const Ctx& c, const std::string& id) {
  auto rec = catalog_->GetBackup(id);
  // The catalog's own NotFound names the id whole: answered here, it is quoted and cut.
  if ((rec.ok() && (rec->engine() != c.engine || !c.who.CanRead(rec->folder_id()))) ||
      absl::IsNotFound(rec.status())) {
    rec = absl::NotFoundError(absl::StrCat("backup ", Quoted(id), " not found"));
  }
  return rec;
}

absl::StatusOr<const common::ClusterConfig*> Api::FindCluster(const Ctx& c, const std::string& id) {
  const common::ClusterConfig* cluster = c.snap.config->FindCluster(id);
  if (!cluster || !c.who.CanRead(cluster->folder_id)) {
    return absl::NotFoundError(absl::StrCat("cluster ", Quoted(id), " not found"));
  }
  if (cluster->engine != c.engine) {
    // Still NOT_FOUND (this engine's API has no such cluster), but a caller who may read it
    // learns which API does: the usual slip is the wrong --engine.
    return absl::NotFoundError(absl::StrCat("cluster ", Quoted(id), " not found among ",
                                            engines_.Name(c.engine), " clusters: it is a ",
                                            engines_.Name(cluster->engine), " cluster"));
  }
  return cluster;
}

absl::Status Api::GetBackup(const Ctx& c, const Message& req, Message* resp) {
  ASSIGN_OR_RETURN(auto rec, FindBackup(c, GetString(req, "backup_id")));
  return ToApiBackup(rec, resp);
}

absl::Status Api::DeleteBackup(const Ctx& c, const Message& req, Message* resp) {
  std::string id = GetString(req, "backup_id");
  ASSIGN_OR_RETURN(auto rec, FindBackup(c, id));
  // OpenSearch names the cluster in the path too; a backup of another cluster is not there.
  std::string cluster_in_request = GetString(req, "cluster_id");
  if (!cluster_in_request.empty() && cluster_in_request != rec.cluster_id()) {
    return absl::NotFoundError(
        absl::StrCat("backup ", Quoted(id), " not found in cluster ", Quoted(cluster_in_request)));
  }
  if (!c.who.CanWrite(rec.folder_id())) {
    return absl::PermissionDeniedError(
        absl::StrCat("the token may not modify folder '", rec.folder_id(), "'"));
  }
  OperationTask task;
  task.mutable_delete_backup()->set_backup_id(id);
  task.mutable_response()->PackFrom(google::protobuf::Empty());
  return StartOperation(c, absl::StrCat("Delete backup '", id, "'"), rec.folder_id(),
                        rec.cluster_id(), id, task, resp);
}

absl::Status Api::StartOperation(const Ctx& c, const std::string& description,
                                 const std::string& folder_id, const std::string& cluster_id,
                                 const std::string& backup_id, const OperationTask& task,
                                 Message* resp) {
  const auto& types = c.method->options().GetExtension(yandex::cloud::api::operation);
  ASSIGN_OR_RETURN(auto metadata, PackMetadata(c.method, types.metadata(), cluster_id, backup_id));
  ASSIGN_OR_RETURN(auto op, runner_->Start({.description = description,
                                            .created_by = c.who.subject(),
                                            .folder_id = folder_id,
                                            .cluster_id = cluster_id,
                                            .metadata = std::move(metadata)},
                                           task.SerializeAsString()));
  resp->CopyFrom(op);
  return absl::OkStatus();
}

absl::Status Api::BackupCluster(const Ctx& c, const Message& req, Message* resp) {
  ASSIGN_OR_RETURN(auto cluster, FindCluster(c, GetString(req, "cluster_id")));
  if (!c.who.CanWrite(cluster->folder_id)) {
    return absl::PermissionDeniedError(
        absl::StrCat("the token may not modify folder '", cluster->folder_id, "'"));
  }
  if (cluster->restore_target) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster ", Quoted(cluster->id),
                     " is declared as a restore target (restore_target: true): it is restored "
                     "into, not backed up"));
  }
  if (!jobs_ || !jobs_->has_repository()) {
    return absl::FailedPreconditionError("this server has no backup repository configured");
  }
  std::string backup_id = common::NewId();
  const std::string response_type =
      c.method->options().GetExtension(yandex::cloud::api::operation).response();
  ASSIGN_OR_RETURN(auto response, PackMetadata(c.method, response_type, "", "", cluster));
  // Run by whichever instance claims it, with the cluster as its config declares it then.
  OperationTask task;
  task.mutable_backup()->set_cluster_id(cluster->id);
  task.mutable_backup()->set_backup_id(backup_id);
  task.mutable_backup()->set_type(catalog::BackupRecord::MANUAL);
  *task.mutable_response() = std::move(response);
  return StartOperation(c, absl::StrCat("Create backup of cluster '", cluster->id, "'"),
                        cluster->folder_id, cluster->id, backup_id, task, resp);
}

absl::Status Api::RestoreCluster(const Ctx& c, const Message& req, Message* resp) {
  ASSIGN_OR_RETURN(auto rec, FindBackup(c, GetString(req, "backup_id")));
  if (!c.who.CanRestore(rec.folder_id())) {  // reading a backup's record is not taking its data
    return absl::PermissionDeniedError(
        absl::StrCat("the token may not restore backups of folder '", rec.folder_id(),
                     "': it needs 'restore' (or 'write') on that folder"));
  }
  ASSIGN_OR_RETURN(std::optional<absl::Time> point, GetPointInTime(req));
  if (point && (!jobs_ || !jobs_->RestoresToPointInTime(c.engine))) {
    return absl::InvalidArgumentError(
        absl::StrCat(engines_.Name(c.engine),
                     " backups restore to their own consistent point; a point "
                     "in time is not available for this engine"));
  }
  if (point && *point < common::FromProto(rec.created_at())) {
    return absl::InvalidArgumentError(
        absl::StrCat("time ", absl::FormatTime(*point), " is before backup '", rec.id(),
                     "' was completed; restore an older backup to reach it"));
  }
  // The target is a cluster declared in the config, named by the request's `name`.
  std::string name = GetString(req, "name");
  const common::ClusterConfig* target = c.snap.config->FindCluster(name);
  if (!target || target->engine != c.engine || !c.who.CanRead(target->folder_id)) {
    return absl::NotFoundError(absl::StrCat("restore target cluster ", Quoted(name),
                                            " is not declared in the config; declare the fresh "
                                            "servers to restore into as a cluster with that id"));
  }
  if (target->scratch) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster ", Quoted(name),
                     " is declared 'scratch: true': restore drills empty it, so it is no restore "
                     "target; declare the servers to restore into as a restore target"));
  }
  std::string folder = GetString(req, "folder_id");
  if (!folder.empty() && folder != target->folder_id) {
    return absl::InvalidArgumentError(absl::StrCat("target cluster ", Quoted(name),
                                                   " is in folder '", target->folder_id, "', not ",
                                                   Quoted(folder)));
  }
  if (!c.who.CanWrite(target->folder_id)) {
    return absl::PermissionDeniedError(
        absl::StrCat("the token may not modify folder '", target->folder_id, "'"));
  }
  if (!jobs_ || !jobs_->has_repository()) {
    return absl::FailedPreconditionError("this server has no backup repository configured");
  }
  const std::string response_type =
      c.method->options().GetExtension(yandex::cloud::api::operation).response();
  ASSIGN_OR_RETURN(auto response, PackMetadata(c.method, response_type, "", "", target));
  OperationTask task;
  task.mutable_restore()->set_backup_id(rec.id());
  task.mutable_restore()->set_target_cluster_id(target->id);
  if (point) *task.mutable_restore()->mutable_point_in_time() = common::ToProto(*point);
  // Our extension of the request (restore_options, field 100 where an engine has one): passed to
  // the engine as it came; the engine says what it makes of it.
  if (const FieldDescriptor* f = req.GetDescriptor()->FindFieldByName("restore_options");
      f && f->message_type() && req.GetReflection()->HasField(req, f)) {
    task.mutable_restore()->set_engine_options(
        req.GetReflection()->GetMessage(req, f).SerializeAsString());
  }
  *task.mutable_response() = std::move(response);
  return StartOperation(c,
                        absl::StrCat("Restore backup '", rec.id(), "' into cluster '", name, "'"),
                        target->folder_id, target->id, rec.id(), task, resp);
}

absl::StatusOr<ops::BackupOperationShape> Api::DescribeBackup(const common::ClusterConfig& cluster,
                                                              const std::string& backup_id) {
  const common::EngineInfo* info = engines_.Find(cluster.engine);
  const MethodDescriptor* method =
      info ? google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(absl::StrCat(
                 std::string(common::EngineTable::Package(*info)), ".ClusterService.Backup"))
           : nullptr;
  if (!method) return absl::InternalError("no ClusterService.Backup for the engine");
  const auto& types = method->options().GetExtension(yandex::cloud::api::operation);
  ops::BackupOperationShape shape;
  ASSIGN_OR_RETURN(shape.metadata, PackMetadata(method, types.metadata(), cluster.id, backup_id));
  ASSIGN_OR_RETURN(shape.response, PackMetadata(method, types.response(), "", "", &cluster));
  return shape;
}

absl::Status Api::GetOperation(const Ctx& c, const Message& req, Message* resp) {
  std::string id = GetString(req, "operation_id");
  // The progress before the record: a task leaves the running table only after its record says
  // done, so a record not done yet always has its progress (read after, it could find neither).
  auto progress = runner_->ProgressOf(id);
  auto rec = catalog_->GetOperation(id);
  if (!rec.ok() || !c.who.CanRead(rec->folder_id)) {
    if (rec.ok() || absl::IsNotFound(rec.status())) {
      return absl::NotFoundError(absl::StrCat("operation ", Quoted(id), " not found"));
    }
    return rec.status();
  }
  resp->CopyFrom(rec->operation);
  auto* op = static_cast<ops::Operation*>(resp);
  if (!op->done() && progress) ops::SetProgress(op, progress->first, progress->second);
  return absl::OkStatus();
}

void Api::WithLiveProgress(ops::Operation* op) {
  // A running operation of this process reports its live progress in its metadata (our
  // extension fields bytes_done / bytes_total, where the metadata type has them); another
  // instance's, the progress its owner stored at its last heartbeat.
  auto progress = op->done() ? std::nullopt : runner_->ProgressOf(op->id());
  if (progress) ops::SetProgress(op, progress->first, progress->second);
}

absl::Status Api::CancelOperation(const Ctx& c, const Message& req, Message* resp) {
  RETURN_IF_ERROR(GetOperation(c, req, resp));
  std::string id = GetString(req, "operation_id");
  if (static_cast<ops::Operation*>(resp)->done()) {
    return absl::FailedPreconditionError(
        absl::StrCat("operation ", Quoted(id), " is already done and cannot be cancelled"));
  }
  auto rec = catalog_->GetOperation(id);
  if (rec.ok() && !c.who.CanWrite(rec->folder_id)) {
    return absl::PermissionDeniedError(
        absl::StrCat("the token may not modify folder '", rec->folder_id, "'"));
  }
  ASSIGN_OR_RETURN(auto op, runner_->Cancel(id));
  resp->CopyFrom(op);
  return absl::OkStatus();
}

}  // namespace mdb::api
