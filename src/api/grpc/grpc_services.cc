// The generated service classes need one override per RPC; each is a one-line forward produced by
// MDB_FORWARD so that no RPC carries logic of its own here.
#include "api/grpc/grpc_services.h"

#include "absl/strings/str_replace.h"
#include "api/status_map.h"
#include "api/validation.h"
#include "common/engines.h"
#include "common/ids.h"
#include "mdb_backup/v1/debug.grpc.pb.h"
#include "yandex/cloud/endpoint/api_endpoint_service.grpc.pb.h"
#include "yandex/cloud/mdb/greenplum/v1/backup_service.grpc.pb.h"
#include "yandex/cloud/mdb/greenplum/v1/cluster_service.grpc.pb.h"
#include "yandex/cloud/mdb/mongodb/v1/backup_service.grpc.pb.h"
#include "yandex/cloud/mdb/mongodb/v1/cluster_service.grpc.pb.h"
#include "yandex/cloud/mdb/opensearch/v1/backup_service.grpc.pb.h"
#include "yandex/cloud/mdb/opensearch/v1/cluster_service.grpc.pb.h"
#include "yandex/cloud/mdb/redis/v1/backup_service.grpc.pb.h"
#include "yandex/cloud/mdb/redis/v1/cluster_service.grpc.pb.h"
#include "yandex/cloud/operation/operation_service.grpc.pb.h"

namespace mdb::api::grpc_transport {
namespace {

namespace gp = yandex::cloud::mdb::greenplum::v1;
namespace mg = yandex::cloud::mdb::mongodb::v1;
namespace rd = yandex::cloud::mdb::redis::v1;
namespace os = yandex::cloud::mdb::opensearch::v1;
namespace yop = yandex::cloud::operation;

// The client's IP address from gRPC's peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000"):
// failed authentications are counted per address, whatever port each attempt comes from.
std::string PeerAddress(const std::string& peer) {
  std::string unescaped = absl::StrReplaceAll(peer, {{"%5B", "["}, {"%5D", "]"}});
  std::string_view p = unescaped;
  size_t colon = p.find(':');
  if (colon == std::string_view::npos || p.substr(0, colon) == "unix") return "";
  p.remove_prefix(colon + 1);
  if (size_t port = p.rfind(':'); port != std::string_view::npos) p = p.substr(0, port);
  if (p.size() > 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
  return std::string(p);
}

grpc::Status Forward(Api* api, const MethodDescriptor* method, grpc::ServerContext* ctx,
                     const Message& req, Message* resp) {
  // x-request-id lets users quote a call in a bug report; the official SDKs read it from errors.
  ctx->AddInitialMetadata("x-request-id", common::NewId());
  std::string_view auth;
  const auto& md = ctx->client_metadata();
  if (md.count("authorization") > 1) {  // which one would count is anyone's guess (as in REST)
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the call has more than one authorization metadata entry");
  }
  if (auto it = md.find("authorization"); it != md.end())
    auth = {it->second.data(), it->second.size()};
  return ToGrpcStatus(
      api->Call(method, {.authorization = auth, .address = PeerAddress(ctx->peer())}, req, resp));
}

const MethodDescriptor* FindMethod(const char* full_name) {
  const MethodDescriptor* m =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
  if (!m) abort();  // a typo below; caught by every test run
  return m;
}

// One override per RPC, each a forward: no RPC carries logic of its own in the transport.
#define MDB_FORWARD(Rpc, Req, Resp, FullName)                                       \
  grpc::Status Rpc(grpc::ServerContext* ctx, const Req* req, Resp* resp) override { \
    static const MethodDescriptor* method = FindMethod(FullName);                   \
    return Forward(api_, method, ctx, *req, resp);                                  \
  }

#define MDB_SERVICE_CLASS(Name, Base, Body) \
  class Name final : public Base {          \
   public:                                  \
    explicit Name(Api* api) : api_(api) {}  \
    Body private : Api* api_;               \
  };
MDB_SERVICE_CLASS(GpBackupService, gp::BackupService::Service,
                  MDB_FORWARD(Get, gp::GetBackupRequest, gp::Backup,
                              "yandex.cloud.mdb.greenplum.v1.BackupService.Get")
                      MDB_FORWARD(List, gp::ListBackupsRequest, gp::ListBackupsResponse,
                                  "yandex.cloud.mdb.greenplum.v1.BackupService.List")
                          MDB_FORWARD(Delete, gp::DeleteBackupRequest, yop::Operation,
                                      "yandex.cloud.mdb.greenplum.v1.BackupService.Delete"))
MDB_SERVICE_CLASS(GpClusterService, gp::ClusterService::Service,
                  MDB_FORWARD(ListBackups, gp::ListClusterBackupsRequest,
                              gp::ListClusterBackupsResponse,
                              "yandex.cloud.mdb.greenplum.v1.ClusterService.ListBackups")
                      MDB_FORWARD(Backup, gp::BackupClusterRequest, yop::Operation,
                                  "yandex.cloud.mdb.greenplum.v1.ClusterService.Backup")
                          MDB_FORWARD(Restore, gp::RestoreClusterRequest, yop::Operation,
                                      "yandex.cloud.mdb.greenplum.v1.ClusterService.Restore"))
MDB_SERVICE_CLASS(MgBackupService, mg::BackupService::Service,
                  MDB_FORWARD(Get, mg::GetBackupRequest, mg::Backup,
                              "yandex.cloud.mdb.mongodb.v1.BackupService.Get")
                      MDB_FORWARD(List, mg::ListBackupsRequest, mg::ListBackupsResponse,
                                  "yandex.cloud.mdb.mongodb.v1.BackupService.List")
                          MDB_FORWARD(Delete, mg::DeleteBackupRequest, yop::Operation,
                                      "yandex.cloud.mdb.mongodb.v1.BackupService.Delete"))
MDB_SERVICE_CLASS(MgClusterService, mg::ClusterService::Service,
                  MDB_FORWARD(ListBackups, mg::ListClusterBackupsRequest,
                              mg::ListClusterBackupsResponse,
                              "yandex.cloud.mdb.mongodb.v1.ClusterService.ListBackups")
                      MDB_FORWARD(Backup, mg::BackupClusterRequest, yop::Operation,
                                  "yandex.cloud.mdb.mongodb.v1.ClusterService.Backup")
                          MDB_FORWARD(Restore, mg::RestoreClusterRequest, yop::Operation,
                                      "yandex.cloud.mdb.mongodb.v1.ClusterService.Restore"))
MDB_SERVICE_CLASS(RdBackupService, rd::BackupService::Service,
                  MDB_FORWARD(Get, rd::GetBackupRequest, rd::Backup,
                              "yandex.cloud.mdb.redis.v1.BackupService.Get")
                      MDB_FORWARD(List, rd::ListBackupsRequest, rd::ListBackupsResponse,
                                  "yandex.cloud.mdb.redis.v1.BackupService.List")
                          MDB_FORWARD(Delete, rd::DeleteBackupRequest, yop::Operation,
                                      "yandex.cloud.mdb.redis.v1.BackupService.Delete"))
MDB_SERVICE_CLASS(RdClusterService, rd::ClusterService::Service,
                  MDB_FORWARD(ListBackups, rd::ListClusterBackupsRequest,
                              rd::ListClusterBackupsResponse,
                              "yandex.cloud.mdb.redis.v1.ClusterService.ListBackups")
                      MDB_FORWARD(Backup, rd::BackupClusterRequest, yop::Operation,
                                  "yandex.cloud.mdb.redis.v1.ClusterService.Backup")
                          MDB_FORWARD(Restore, rd::RestoreClusterRequest, yop::Operation,
                                      "yandex.cloud.mdb.redis.v1.ClusterService.Restore"))
MDB_SERVICE_CLASS(OsBackupService, os::BackupService::Service,
                  MDB_FORWARD(Get, os::GetBackupRequest, os::Backup,
                              "yandex.cloud.mdb.opensearch.v1.BackupService.Get")
                      MDB_FORWARD(List, os::ListBackupsRequest, os::ListBackupsResponse,
                                  "yandex.cloud.mdb.opensearch.v1.BackupService.List"))
MDB_SERVICE_CLASS(
    OsClusterService, os::ClusterService::Service,
    MDB_FORWARD(ListBackups, os::ListClusterBackupsRequest, os::ListClusterBackupsResponse,
                "yandex.cloud.mdb.opensearch.v1.ClusterService.ListBackups")
        MDB_FORWARD(Backup, os::BackupClusterRequest, yop::Operation,
                    "yandex.cloud.mdb.opensearch.v1.ClusterService.Backup")
            MDB_FORWARD(Restore, os::RestoreClusterRequest, yop::Operation,
                        "yandex.cloud.mdb.opensearch.v1.ClusterService.Restore")
                MDB_FORWARD(DeleteBackup, os::DeleteBackupRequest, yop::Operation,
                            "yandex.cloud.mdb.opensearch.v1.ClusterService.DeleteBackup"))
MDB_SERVICE_CLASS(OperationServiceImpl, yop::OperationService::Service,
                  MDB_FORWARD(Get, yop::GetOperationRequest, yop::Operation,
                              "yandex.cloud.operation.OperationService.Get")
                      MDB_FORWARD(Cancel, yop::CancelOperationRequest, yop::Operation,
                                  "yandex.cloud.operation.OperationService.Cancel"))

// The empty unary call that benchmarks compare the API against: no authentication, no work.
class DebugServiceImpl final : public mdb_backup::v1::DebugService::Service {
 public:
  grpc::Status Ping(grpc::ServerContext*, const google::protobuf::Empty*,
                    google::protobuf::Empty*) override {
    return grpc::Status::OK;
  }
};

// Endpoint discovery for the official SDKs: the Python SDK lists endpoints at `endpoint=` before
// it opens a TLS channel to any service, and expects "iam" among them. Every service it may ask
// for is here, at the address the client used to reach us (its :authority), so an SDK pointed at
// mdb-backupd stays on it. No authentication, as in Yandex Cloud: nothing here is secret.
class EndpointServiceImpl final : public yandex::cloud::endpoint::ApiEndpointService::Service {
 public:
  grpc::Status List(grpc::ServerContext* ctx,
                    const yandex::cloud::endpoint::ListApiEndpointsRequest*,
                    yandex::cloud::endpoint::ListApiEndpointsResponse* resp) override {
    std::string address = Address(ctx);
    for (const std::string& id : Ids()) {
      auto* e = resp->add_endpoints();
      e->set_id(id);
      e->set_address(address);
    }
    return grpc::Status::OK;
  }
  grpc::Status Get(grpc::ServerContext* ctx,
                   const yandex::cloud::endpoint::GetApiEndpointRequest* req,
                   yandex::cloud::endpoint::ApiEndpoint* resp) override {
    for (const std::string& id : Ids()) {
      if (req->api_endpoint_id() == id) {
        resp->set_id(id);
        resp->set_address(Address(ctx));
        return grpc::Status::OK;
      }
    }
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "endpoint " + Quoted(req->api_endpoint_id()) + " is not served here");
  }

 private:
  static std::vector<std::string> Ids() {
    std::vector<std::string> ids = {"endpoint", "iam", "operation"};
    for (const auto& e : common::AllEngines()) ids.emplace_back(e.endpoint_id);
    return ids;
  }
  static std::string Address(grpc::ServerContext* ctx) {
    // The address the client used: a host and port, so printable ASCII; anything else (it is the
    // client's own :authority) is not echoed.
    grpc::string_ref authority = ctx->ExperimentalGetAuthority();
    std::string a(authority.data(), std::min<size_t>(authority.size(), 255));
    for (char c : a) {
      if (c <= 0x20 || c >= 0x7f) return "";
    }
    return a;
  }
};

}  // namespace

GrpcServices::GrpcServices(Api* api) {
  services_.push_back(std::make_unique<GpBackupService>(api));
  services_.push_back(std::make_unique<GpClusterService>(api));
  services_.push_back(std::make_unique<MgBackupService>(api));
  services_.push_back(std::make_unique<MgClusterService>(api));
  services_.push_back(std::make_unique<RdBackupService>(api));
  services_.push_back(std::make_unique<RdClusterService>(api));
  services_.push_back(std::make_unique<OsBackupService>(api));
  services_.push_back(std::make_unique<OsClusterService>(api));
  services_.push_back(std::make_unique<OperationServiceImpl>(api));
  services_.push_back(std::make_unique<DebugServiceImpl>());
  services_.push_back(std::make_unique<EndpointServiceImpl>());
}

GrpcServices::~GrpcServices() = default;

void GrpcServices::RegisterAll(grpc::ServerBuilder* builder) {
  for (auto& s : services_) builder->RegisterService(s.get());
}

}  // namespace mdb::api::grpc_transport
