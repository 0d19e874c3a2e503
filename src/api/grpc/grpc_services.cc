// The public services are registered from their descriptors (DescriptorService below): no RPC
// carries logic of its own here, and no engine is named.
#include "api/grpc/grpc_services.h"

#include <climits>
#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "api/status_map.h"
#include "api/validation.h"
#include "common/engines.h"
#include "common/ids.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "mdb_backup/v1/debug.grpc.pb.h"
#include "yandex/cloud/endpoint/api_endpoint_service.grpc.pb.h"

namespace mdb::api::grpc_transport {
namespace {

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
                     const Message& req, Message* resp, SplicedField* spliced) {
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
  return ToGrpcStatus(api->Call(method,
                                {.authorization = auth,
                                 .address = PeerAddress(ctx->peer()),
                                 .spliced = spliced},  // Handle below only serializes the response
                                req, resp));
}

// One gRPC service built from its descriptor: every method the API serves is registered by its
// path ("/package.Service/Method") as raw bytes, parsed into the method's request type and
// answered through Api::Call. protoc's generated Service classes register RpcServiceMethods the
// same way in their constructors; doing it from descriptors means an engine's services need no
// class here, only their row in the engine table (engine/all.cc).
class DescriptorService final : public grpc::Service {
 public:
  DescriptorService(Api* api, const ServiceDescriptor* service) : api_(api) {
    for (int i = 0; i < service->method_count(); ++i) {
      const MethodDescriptor* m = service->method(i);
      if (!api->Serves(m)) continue;  // gRPC answers UNIMPLEMENTED
      paths_.push_back(absl::StrCat("/", service->full_name(), "/", m->name()));
      AddMethod(new grpc::internal::RpcServiceMethod(
          paths_.back().c_str(), grpc::internal::RpcMethod::NORMAL_RPC,
          new grpc::internal::RpcMethodHandler<DescriptorService, grpc::ByteBuffer,
                                               grpc::ByteBuffer>(
              [m](DescriptorService* self, grpc::ServerContext* ctx, const grpc::ByteBuffer* req,
                  grpc::ByteBuffer* resp) { return self->Handle(m, ctx, *req, resp); },
              this)));
    }
  }
  bool empty() const { return paths_.empty(); }

 private:
  grpc::Status Handle(const MethodDescriptor* method, grpc::ServerContext* ctx,
                      const grpc::ByteBuffer& raw, grpc::ByteBuffer* out) {
    auto* factory = google::protobuf::MessageFactory::generated_factory();
    // One arena per call: a List(100) response holds ~1,000 strings and timestamps, and
    // allocating each on the heap was a large share of its cost (BENCHMARKS.md, bench/api).
    google::protobuf::Arena arena;
    Message* request = factory->GetPrototype(method->input_type())->New(&arena);
    Message* response = factory->GetPrototype(method->output_type())->New(&arena);
    grpc::ByteBuffer buffer(raw);  // shares the slices; Deserialize consumes its argument
    if (!grpc::SerializationTraits<Message>::Deserialize(&buffer, request).ok()) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          "the request is not a valid " + method->input_type()->full_name() + " message");
    }
    SplicedField spliced;
    grpc::Status status = Forward(api_, method, ctx, *request, response, &spliced);
    if (!status.ok()) return status;
    if (spliced.items.empty()) {
      bool own_buffer;
      return grpc::SerializationTraits<Message>::Serialize(*response, out, &own_buffer);
    }
    // The response's own fields, then the spliced elements: one buffer, each byte copied once.
    const size_t own = response->ByteSizeLong();
    const size_t size = own + spliced.WireSize();
    if (size > static_cast<size_t>(INT_MAX)) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "the response is larger than 2 GiB");
    }
    grpc::Slice slice(size);
    auto* begin = const_cast<uint8_t*>(slice.begin());  // a slice of its own, not yet shared
    uint8_t* end = spliced.Write(response->SerializeWithCachedSizesToArray(begin));
    if (end != begin + size) return grpc::Status(grpc::StatusCode::INTERNAL, "response size");
    *out = grpc::ByteBuffer(&slice, 1);
    return grpc::Status::OK;
  }

  Api* api_;
  std::deque<std::string> paths_;  // RpcServiceMethod keeps a pointer to its path
};

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
  explicit EndpointServiceImpl(const common::EngineTable& engines) {
    ids_ = {"endpoint", "iam", "operation"};
    for (const auto& e : engines.rows()) ids_.emplace_back(e.endpoint_id);
  }
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
  const std::vector<std::string>& Ids() const { return ids_; }
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

  std::vector<std::string> ids_;
};

// Every method no service registered: the contract's cluster-managing methods (Create, Update,
// Delete, Start, Stop, Move...), which SDK users call, get the reason, as over REST; anything
// else is unknown. Without it gRPC answers UNIMPLEMENTED with an empty message.
class UnservedMethods final : public grpc::CallbackGenericService {
 public:
  explicit UnservedMethods(const common::EngineTable& engines) : engines_(engines) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(grpc::Status status) { Finish(std::move(status)); }
      void OnDone() override { delete this; }
    };
    // "/yandex.cloud.mdb.redis.v1.ClusterService/Create": the package and service of the path.
    const std::string& method = ctx->method();
    const size_t slash = method.rfind('/');
    const std::string service = slash == std::string::npos ? "" : method.substr(1, slash - 1);
    const size_t dot = service.rfind('.');
    const bool cluster_service = dot != std::string::npos &&
                                 service.substr(dot + 1) == "ClusterService" &&
                                 engines_.FindByPackage(service.substr(0, dot)) != nullptr;
    return new Reactor(grpc::Status(
        grpc::StatusCode::UNIMPLEMENTED,
        cluster_service ? absl::StrCat(Quoted(method),
                                       " is not served: this service protects the clusters "
                                       "declared in its config; it does not create, change, "
                                       "start, stop or delete clusters")
                        : absl::StrCat("method ", Quoted(method), " is not served")));
  }

 private:
  const common::EngineTable& engines_;
};

}  // namespace

GrpcServices::GrpcServices(Api* api) {
  for (const ServiceDescriptor* s : PublicServices(api->engines())) {
    auto service = std::make_unique<DescriptorService>(api, s);
    if (!service->empty()) services_.push_back(std::move(service));
  }
  services_.push_back(std::make_unique<DebugServiceImpl>());
  services_.push_back(std::make_unique<EndpointServiceImpl>(api->engines()));
  unserved_ = std::make_unique<UnservedMethods>(api->engines());
}

GrpcServices::~GrpcServices() = default;

void GrpcServices::RegisterAll(grpc::ServerBuilder* builder) {
  for (auto& s : services_) builder->RegisterService(s.get());
  builder->RegisterCallbackGenericService(unserved_.get());
}

}  // namespace mdb::api::grpc_transport
