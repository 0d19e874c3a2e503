#include "server/protobuf_log.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "absl/time/clock.h"
#include "google/protobuf/stubs/logging.h"

namespace mdb::server {
namespace {

std::atomic<int64_t> total{0};
std::mutex mu;
absl::Time last_written = absl::InfinitePast();
int64_t unwritten = 0;

void Handler(google::protobuf::LogLevel level, const char* filename, int line,
             const std::string& message) {
  ++total;
  std::lock_guard<std::mutex> lock(mu);
  absl::Time now = absl::Now();
  if (level < google::protobuf::LOGLEVEL_FATAL && now - last_written < absl::Minutes(1)) {
    ++unwritten;
    return;
  }
  if (unwritten > 0) {
    fprintf(stderr, "mdb-backupd: protobuf: %s (and %lld more lines in the last minute)\n",
            message.c_str(), static_cast<long long>(unwritten));
  } else {
    fprintf(stderr, "mdb-backupd: protobuf: %s\n", message.c_str());
  }
  last_written = now;
  unwritten = 0;
}

}  // namespace

void CountProtobufLogs() { google::protobuf::SetLogHandler(&Handler); }

int64_t ProtobufLogCount() { return total.load(); }

}  // namespace mdb::server
