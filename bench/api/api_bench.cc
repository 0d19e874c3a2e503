// bench/api: latency of the Backup API against an empty unary gRPC call served by the same
// process (DebugService.Ping), in one run: Get p50/p99, List(100) p50, REST Get, List at page
// 1 vs page 10,000 of a 1,000,000-backup catalog, and gRPC Get over TLS vs plaintext on a reused
// channel (two more servers; certificates made with the openssl CLI).
// Usage: api_bench [--backups N] [--calls N] [--catalog postgresql://...]
//                  [--phase both|fill|measure|profile-list] (fill, then measure in another run:
//                  a PostgreSQL catalog is vacuumed and checkpointed between them by
//                  bench/api/catalogs.sh; profile-list, on a --catalog filled before, only calls
//                  List(100), for perf record).
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server_builder.h"
#include "mdb_backup/v1/debug.grpc.pb.h"
#include "server/server.h"
#include "yandex/cloud/mdb/redis/v1/backup_service.grpc.pb.h"

namespace {

namespace rd = yandex::cloud::mdb::redis::v1;
using Clock = std::chrono::steady_clock;

struct Stats {
  double p50_us, p99_us;
};

template <typename Fn>
Stats Measure(int calls, Fn fn) {
  calls = std::max(calls, 1);
  for (int i = 0; i < calls / 10; ++i) fn();  // warm up connections and caches
  std::vector<double> us;
  us.reserve(calls);
  for (int i = 0; i < calls; ++i) {
    auto t0 = Clock::now();
    fn();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

// One kind of call, measured in blocks.
struct Call {
  std::string name;
  int calls;
  std::function<void()> fn;
  std::vector<Stats> blocks;
};

// In 4 blocks, forward then backward (ABCD DCBA ...): the machine's drift over the run (CPU
// frequency, other processes) falls on every call alike instead of on whichever came first.
template <size_t N>
void Interleave(Call (&calls)[N]) {
  for (int block = 0; block < 4; ++block) {
    for (size_t k = 0; k < N; ++k) {
      Call& call = calls[block % 2 ? N - 1 - k : k];
      call.blocks.push_back(Measure(call.calls / 4, call.fn));
    }
  }
}

// Of the 4 blocks: the mean of the middle two.
Stats Median(const Call& call) {
  std::vector<double> p50, p99;
  for (const Stats& s : call.blocks) p50.push_back(s.p50_us), p99.push_back(s.p99_us);
  std::sort(p50.begin(), p50.end());
  std::sort(p99.begin(), p99.end());
  return Stats{(p50[1] + p50[2]) / 2, (p99[1] + p99[2]) / 2};
}

void Check(const grpc::Status& st) {
  if (!st.ok()) {
    fprintf(stderr, "call failed: %s\n", st.error_message().c_str());
    exit(1);
  }
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The floor of a List(100) as a client sees it: a server answering BackupService.List with bytes
// it holds (those of a real List(100)), doing nothing else, so that what remains of List's time
// is carrying the response and the client's parse of 100 Backups. Its handler is gRPC's own
// byte-buffer method, as the API's (grpc_services.cc); the buffer handed over shares the slices.
class CannedList final : public grpc::Service {
 public:
  explicit CannedList(const rd::ListBackupsResponse& response) {
    bool own;
    if (!grpc::SerializationTraits<rd::ListBackupsResponse>::Serialize(response, &bytes_, &own)
             .ok()) {
      exit(1);
    }
    AddMethod(new grpc::internal::RpcServiceMethod(
        "/yandex.cloud.mdb.redis.v1.BackupService/List", grpc::internal::RpcMethod::NORMAL_RPC,
        new grpc::internal::RpcMethodHandler<CannedList, grpc::ByteBuffer, grpc::ByteBuffer>(
            [](CannedList* self, grpc::ServerContext*, const grpc::ByteBuffer*,
               grpc::ByteBuffer* out) {
              *out = self->bytes_;
              return grpc::Status::OK;
            },
            this)));
  }

 private:
  grpc::ByteBuffer bytes_;
};

// gRPC Get p50 over TLS / over plaintext, each on its own server (a catalog of one backup) and
// a channel reused for every call, measured in alternating blocks so that drift hits both.
void CompareTls(const std::filesystem::path& dir, int calls) {
  std::string make_certs = absl::StrCat(
      "cd ", dir.string(),
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1"
      " -subj /CN=bench-ca -keyout ca.key -out ca.pem 2>/dev/null"
      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1"
      " -keyout server.key -out server.csr 2>/dev/null"
      " && printf 'subjectAltName=IP:127.0.0.1' > san.ext"
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1"
      " -extfile san.ext -out server.pem 2>/dev/null");
  if (system(make_certs.c_str()) != 0) {
    fprintf(stderr, "openssl failed: TLS comparison skipped\n");
    return;
  }
  std::unique_ptr<mdb::server::Server> servers[2];
  std::unique_ptr<rd::BackupService::Stub> stubs[2];
  for (int tls = 0; tls < 2; ++tls) {
    auto sub = dir / (tls ? "tls" : "plain");
    std::filesystem::create_directories(sub);
    std::ofstream(sub / "config.yaml") << absl::StrCat(
        "server: {grpc_listen: \"127.0.0.1:0\", rest_listen: \"127.0.0.1:0\", catalog: c.db, "
        "automated_backups: false",
        tls ? ", tls: {cert_file: ../server.pem, key_file: ../server.key}" : "", "}\n",
        "tokens: [{token: bench-token-1, read: [small]}]\n");
    auto catalog = mdb::catalog::OpenSqliteCatalog((sub / "c.db").string());
    mdb::catalog::BackupRecord r;
    r.set_id("small-500");
    r.set_engine(mdb::catalog::Engine::REDIS);
    r.set_folder_id("small");
    r.set_cluster_id("c1");
    *r.mutable_created_at() = mdb::common::FromUnixNanos(1'700'000'000'000'000'000);
    if (!catalog.ok() || !(*catalog)->PutBackups({r}).ok()) exit(1);
    catalog->reset();
    auto server = mdb::server::Server::Create((sub / "config.yaml").string());
    if (!server.ok() || !(*server)->Start().ok()) {
      fprintf(stderr, "TLS comparison: server did not start\n");
      exit(1);
    }
    servers[tls] = std::move(*server);
    auto creds = tls ? grpc::SslCredentials({.pem_root_certs = ReadFile(dir / "ca.pem")})
                     : grpc::InsecureChannelCredentials();
    stubs[tls] =
        rd::BackupService::NewStub(grpc::CreateChannel(servers[tls]->grpc_address(), creds));
  }
  rd::GetBackupRequest req;
  req.set_backup_id("small-500");
  std::vector<double> p50[2];
  for (int block = 0; block < 4; ++block) {
    for (int tls = 0; tls < 2; ++tls) {
      p50[tls].push_back(Measure(calls / 2, [&] {
                           grpc::ClientContext c;
                           c.AddMetadata("authorization", "Bearer bench-token-1");
                           rd::Backup out;
                           Check(stubs[tls]->Get(&c, req, &out));
                         }).p50_us);
    }
  }
  for (auto& v : p50) std::sort(v.begin(), v.end());
  double plain = (p50[0][1] + p50[0][2]) / 2, tls = (p50[1][1] + p50[1][2]) / 2;
  printf("\ngRPC BackupService.Get over TLS (reused channel), median of 4 blocks' p50:\n");
  printf("%-40s %10.0f\n%-40s %10.0f %8.2fx\n", "plaintext", plain, "TLS (P-256 certificate)", tls,
         tls / plain);
  for (auto& s : servers) s->Shutdown();
}

}  // namespace

int main(int argc, char** argv) {
  int backups = 1'000'000, calls = 5000;
  std::string catalog_location;  // empty: an SQLite file beside the config
  std::string phase = "both";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--backups") backups = atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--calls") calls = atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--catalog") catalog_location = argv[i + 1];  // postgresql://...
    if (std::string(argv[i]) == "--phase") phase = argv[i + 1];
  }
  auto dir = std::filesystem::temp_directory_path() / ("api_bench_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  if (catalog_location.empty()) catalog_location = (dir / "catalog.db").string();
  std::ofstream(dir / "config.yaml")
      << "server: {grpc_listen: \"127.0.0.1:0\", rest_listen: \"127.0.0.1:0\", catalog: \""
      << catalog_location << R"(", automated_backups: false}
tokens: [{token: bench-token-1, read: [big, small]}]
clusters: [{id: c1, folder_id: big, engine: redis, hosts: ["127.0.0.1:1"]}]
)";
  if (phase == "both" || phase == "fill") {
    // Fill the catalog: `backups` in folder "big", 1,000 in folder "small".
    auto catalog = mdb::catalog::OpenCatalog(catalog_location);
    if (!catalog.ok()) {
      fprintf(stderr, "catalog: %s\n", std::string(catalog.status().message()).c_str());
      return 1;
    }
    auto t0 = Clock::now();
    std::vector<mdb::catalog::BackupRecord> batch;
    auto add = [&](const std::string& folder, int i) {
      auto& r = batch.emplace_back();
      r.set_id(absl::StrCat(folder, "-", i));
      r.set_engine(mdb::catalog::Engine::REDIS);
      r.set_folder_id(folder);
      r.set_cluster_id("c1");
      *r.mutable_started_at() = mdb::common::FromUnixNanos(1'700'000'000'000'000'000 + i * 1e9);
      *r.mutable_created_at() =
          mdb::common::FromUnixNanos(1'700'000'000'000'000'000 + i * 1e9 + 5e8);
      r.set_type(mdb::catalog::BackupRecord::AUTOMATED);
      r.add_source_shard_names("shard1");
      if (batch.size() == 50000) {
        if (!(*catalog)->PutBackups(batch).ok()) exit(1);
        batch.clear();
      }
    };
    for (int i = 0; i < backups; ++i) add("big", i);
    for (int i = 0; i < 1000; ++i) add("small", i);
    if (!(*catalog)->PutBackups(batch).ok()) exit(1);
    printf("catalog: %d + 1000 backups inserted in %.1f s\n", backups,
           std::chrono::duration<double>(Clock::now() - t0).count());
    if (phase == "fill") return 0;
  }
  auto server = mdb::server::Server::Create((dir / "config.yaml").string());
  if (!server.ok() || !(*server)->Start().ok()) return 1;
  auto channel = grpc::CreateChannel((*server)->grpc_address(), grpc::InsecureChannelCredentials());
  auto ping = mdb_backup::v1::DebugService::NewStub(channel);
  auto backup = rd::BackupService::NewStub(channel);
  auto ctx = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->AddMetadata("authorization", "Bearer bench-token-1");
    return c;
  };

  google::protobuf::Empty ping_in;
  rd::GetBackupRequest get_req;
  get_req.set_backup_id("small-500");
  rd::ListBackupsRequest list_req;
  list_req.set_folder_id("small");
  list_req.set_page_size(100);
  rd::ListBackupsResponse listed;
  Check(backup->List(ctx().get(), list_req, &listed));
  CannedList canned(listed);
  int canned_port = 0;
  std::unique_ptr<grpc::Server> floor_server =
      grpc::ServerBuilder()
          .AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &canned_port)
          .RegisterService(&canned)
          .BuildAndStart();
  auto floor_stub = rd::BackupService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", canned_port), grpc::InsecureChannelCredentials()));
  httplib::Client rest("http://" + (*server)->rest_address());
  rest.set_keep_alive(true);
  rest.set_tcp_nodelay(true);
  httplib::Headers h{{"Authorization", "Bearer bench-token-1"}};
  Call measured[] = {
      {"gRPC empty unary (DebugService.Ping)", calls,
       [&] {
         google::protobuf::Empty out;
         grpc::ClientContext c;
         Check(ping->Ping(&c, ping_in, &out));
       }},
      {"gRPC BackupService.Get", calls,
       [&] {
         rd::Backup out;
         Check(backup->Get(ctx().get(), get_req, &out));
       }},
      {"gRPC BackupService.List(100)", calls / 5,
       [&] {
         rd::ListBackupsResponse out;
         Check(backup->List(ctx().get(), list_req, &out));
         if (out.backups_size() != 100) exit(1);
       }},
      {"floor: the same List(100) bytes, canned", calls / 5,
       [&] {
         rd::ListBackupsResponse out;
         Check(floor_stub->List(ctx().get(), list_req, &out));
         if (out.backups_size() != 100) exit(1);
       }},
      {"REST GET /backups/{id} (keep-alive)", calls,
       [&] {
         auto r = rest.Get("/managed-redis/v1/backups/small-500", h);
         if (!r || r->status != 200) exit(1);
       }},
  };
  if (phase == "profile-list") {  // only List(100), for `perf record` (not a measurement)
    for (int i = 0; i < calls; ++i) measured[2].fn();
    floor_server->Shutdown();
    (*server)->Shutdown();
    std::filesystem::remove_all(dir);
    return 0;
  }
  Interleave(measured);

  // Walk to page 10,000 of the big folder (page size 100) to get its token.
  rd::ListBackupsRequest page_req;
  page_req.set_folder_id("big");
  page_req.set_page_size(100);
  rd::ListBackupsRequest first = page_req;
  int pages = std::min(10'000, backups / 100);
  auto t0 = Clock::now();
  for (int p = 1; p < pages; ++p) {
    rd::ListBackupsResponse out;
    Check(backup->List(ctx().get(), page_req, &out));
    page_req.set_page_token(out.next_page_token());
  }
  double walk_s = std::chrono::duration<double>(Clock::now() - t0).count();
  Call pages_measured[] = {
      {"page 1", calls / 5,
       [&] {
         rd::ListBackupsResponse out;
         Check(backup->List(ctx().get(), first, &out));
       }},
      {absl::StrCat("page ", pages), calls / 5,
       [&] {
         rd::ListBackupsResponse out;
         Check(backup->List(ctx().get(), page_req, &out));
         if (out.backups_size() != 100) exit(1);
       }},
  };
  Interleave(pages_measured);

  printf("\n%-40s %10s %10s %8s\n", "call (1 client, median of 4 blocks)", "p50 us", "p99 us",
         "p50 x");
  auto row = [&](const Call& call, const Call& base) {
    Stats s = Median(call);
    printf("%-40s %10.0f %10.0f %8.2f\n", call.name.c_str(), s.p50_us, s.p99_us,
           s.p50_us / Median(base).p50_us);
  };
  for (const Call& call : measured) row(call, measured[0]);
  printf("%-40s %10s %10s %8.2f\n", "List(100) / its floor", "", "",
         Median(measured[2]).p50_us / Median(measured[3]).p50_us);
  printf("\nList(100) of a %d-backup folder; page %d reached in %.1f s:\n", backups, pages, walk_s);
  for (const Call& call : pages_measured) row(call, pages_measured[0]);
  floor_server->Shutdown();
  (*server)->Shutdown();
  server->reset();
  CompareTls(dir, calls);
  std::filesystem::remove_all(dir);
  return 0;
}
