#include "server/library_log.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "google/protobuf/stubs/logging.h"
#include "grpc/support/log.h"

namespace mdb::server {
namespace {

std::atomic<int64_t> total{0};

// One minute's budget of written lines for one library.
class Limiter {
 public:
  explicit Limiter(const char* library) : library_(library) {}
  void Line(const std::string& message, bool always) {
    ++total;
    std::lock_guard<std::mutex> lock(mu_);
    absl::Time now = absl::Now();
    if (!always && now - last_written_ < absl::Minutes(1)) {
      ++unwritten_;
      return;
    }
    if (unwritten_ > 0) {
      common::Log(common::LogLevel::kInfo, "library",
                  absl::StrFormat("%s: %s (and %lld more lines in the last minute)", library_,
                                  message.c_str(), static_cast<long long>(unwritten_)));
    } else {
      common::Log(common::LogLevel::kInfo, "library",
                  absl::StrFormat("%s: %s", library_, message.c_str()));
    }
    last_written_ = now;
    unwritten_ = 0;
  }

 private:
  const char* library_;
  std::mutex mu_;
  absl::Time last_written_ = absl::InfinitePast();
  int64_t unwritten_ = 0;
};

Limiter& Protobuf() {
  static auto* l = new Limiter("protobuf");
  return *l;
}
Limiter& Grpc() {
  static auto* l = new Limiter("grpc");
  return *l;
}

void ProtobufHandler(google::protobuf::LogLevel level, const char* filename, int line,
                     const std::string& message) {
  Protobuf().Line(message, level >= google::protobuf::LOGLEVEL_FATAL);
}

void GrpcHandler(gpr_log_func_args* args) {
  Grpc().Line(absl::StrCat(args->file ? args->file : "?", ":", args->line, " ",
                           args->message ? args->message : ""),
              /*always=*/false);
}

}  // namespace

void CountLibraryLogs() {
  Protobuf();
  Grpc();
  google::protobuf::SetLogHandler(&ProtobufHandler);
  gpr_set_log_function(&GrpcHandler);
}

int64_t LibraryLogCount() { return total.load(); }

}  // namespace mdb::server
