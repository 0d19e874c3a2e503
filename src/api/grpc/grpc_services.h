// gRPC transport: registers every public service with a grpc::ServerBuilder; each RPC forwards to
// Api::Call, so gRPC and REST share one implementation.
#pragma once

#include <memory>
#include <vector>

#include "api/api.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server_builder.h"

namespace mdb::api::grpc_transport {

// Owns the service objects; keep it alive as long as the server runs.
class GrpcServices {
 public:
  explicit GrpcServices(Api* api);
  ~GrpcServices();
  void RegisterAll(grpc::ServerBuilder* builder);

 private:
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::CallbackGenericService> unserved_;  // methods none of them has
};

}  // namespace mdb::api::grpc_transport
