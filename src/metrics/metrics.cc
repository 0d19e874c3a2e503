#include "metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/version.h"

namespace mdb::metrics {

using prometheus::Labels;

struct Metrics::Families {
  // Series that change at every call (API, operations running, the repository), rendered at
  // each scrape.
  prometheus::Registry registry;
  // Per-cluster series, which change when a backup or restore ends or a WAL segment is archived:
  // rendered again only after such an event (a scrape of 1,000 clusters is ~7,000 of them; the
  // library's rendering of those takes 6 ms, mostly formatting: BENCHMARKS.md).
  prometheus::Registry clusters;
  std::atomic<uint64_t> generation{1};  // bumped after a cluster series changed
  std::mutex render_mu;                 // scrapes only: no event waits on it
  uint64_t rendered_generation = 0;
  std::string rendered;
  void Changed() { generation.fetch_add(1); }
  prometheus::Family<prometheus::Gauge>& build = prometheus::BuildGauge()
                                                     .Name("mdb_build_info")
                                                     .Help("Always 1; the version is a label.")
                                                     .Register(registry);
  prometheus::Family<prometheus::Counter>& api_calls =
      prometheus::BuildCounter()
          .Name("mdb_api_requests_total")
          .Help("API calls (gRPC and REST) by method and canonical status code.")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& api_seconds =
      prometheus::BuildHistogram()
          .Name("mdb_api_request_duration_seconds")
          .Help("API call latency by method, from the token check to the answer.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& declared =
      prometheus::BuildGauge()
          .Name("mdb_cluster_declared")
          .Help("1 for each cluster the service protects (declared, not a restore target).")
          .Register(clusters);
  prometheus::Family<prometheus::Gauge>& last_success =
      prometheus::BuildGauge()
          .Name("mdb_backup_last_success_timestamp_seconds")
          .Help("When the cluster's newest successful backup of each method completed.")
          .Register(clusters);
  prometheus::Family<prometheus::Gauge>& last_duration =
      prometheus::BuildGauge()
          .Name("mdb_backup_last_duration_seconds")
          .Help("How long the cluster's newest successful backup ran.")
          .Register(clusters);
  prometheus::Family<prometheus::Gauge>& last_bytes =
      prometheus::BuildGauge()
          .Name("mdb_backup_last_size_bytes")
          .Help(
              "The newest successful backup's sizes: logical (what it holds), stored (the "
              "repository bytes it references), added (new to the repository).")
          .Register(clusters);
  prometheus::Family<prometheus::Counter>& backups =
      prometheus::BuildCounter()
          .Name("mdb_backups_total")
          .Help("Backups run by this instance since it started, by outcome (the status code).")
          .Register(clusters);
  prometheus::Family<prometheus::Counter>& restores =
      prometheus::BuildCounter()
          .Name("mdb_restores_total")
          .Help("Restores into a cluster run by this instance, by outcome (the status code).")
          .Register(clusters);
  prometheus::Family<prometheus::Gauge>& restorable =
      prometheus::BuildGauge()
          .Name("mdb_restorable_until_timestamp_seconds")
          .Help(
              "The newest point the cluster can be restored to: its newest backup, or the end "
              "of its archived journal for engines with point-in-time restore.")
          .Register(clusters);
  prometheus::Family<prometheus::Gauge>& running =
      prometheus::BuildGauge()
          .Name("mdb_operations_running")
          .Help("Operations running on this instance, by kind.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& journal_last =
      prometheus::BuildGauge()
          .Name("mdb_journal_last_piece_timestamp_seconds")
          .Help("When the newest journal piece (WAL segment) of the shard was archived.")
          .Register(clusters);
  prometheus::Family<prometheus::Counter>& journal_bytes =
      prometheus::BuildCounter()
          .Name("mdb_journal_archived_bytes_total")
          .Help("Stored bytes of journal pieces archived by this instance since it started.")
          .Register(clusters);
  prometheus::Family<prometheus::Gauge>& repo =
      prometheus::BuildGauge()
          .Name("mdb_repository_bytes")
          .Help(
              "The repository at its last GC: stored (packs), logical (what its backups hold), "
              "journal (pieces), reclaimable (dead chunks in packs that still hold live ones).")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& repo_objects =
      prometheus::BuildGauge()
          .Name("mdb_repository_objects")
          .Help("The repository at its last GC: packs and distinct chunks.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& dedup =
      prometheus::BuildGauge()
          .Name("mdb_repository_dedup_ratio")
          .Help("Logical bytes of every backup over the stored bytes of their packs.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& repo_gc =
      prometheus::BuildGauge()
          .Name("mdb_repository_last_gc_timestamp_seconds")
          .Help("When the repository's last successful GC ended.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& repo_up =
      prometheus::BuildGauge()
          .Name("mdb_repository_up")
          .Help("1 when the repository answered the service's last use of it, else 0.")
          .Register(registry);

  // Series of each cluster, to drop when it is removed from the config.
  std::mutex mu;
  std::map<std::string, std::vector<std::function<void()>>> removers;
  std::set<std::pair<const void*, Labels>> known;

  // API series, looked up without the families' locks (which a scrape holds while copying).
  std::shared_mutex api_mu;
  std::unordered_map<std::string, prometheus::Counter*> api_counters;
  std::unordered_map<std::string, prometheus::Histogram*> api_histograms;

  // Per cluster and shard, when its newest journal piece was archived (guarded by mu).
  std::map<std::string, std::map<std::string, double>> journal_ends;
  // Clusters series may be kept for (the config's); nullopt until the server says (unit tests).
  std::optional<std::set<std::string>> allowed;

  // Applies `update` to the cluster's series of `family` with `labels`, all under mu: a cluster
  // forgotten meanwhile (a reload) can neither leave a series behind nor have one freed under
  // the update, and read-modify-write updates (the newest time) are not interleaved. Events of
  // cluster series are rare (a backup's end, a WAL segment). Series of clusters not in the
  // config are not made (a late event of a removed cluster).
  template <typename T, typename F, typename... Args>
  void Update(prometheus::Family<T>& family, const std::string& cluster, const Labels& labels,
              F update, Args&&... args) {
    std::lock_guard<std::mutex> lock(mu);
    if (allowed && !allowed->count(cluster)) return;
    T& series = family.Add(labels, std::forward<Args>(args)...);
    if (known.emplace(&family, labels).second) {
      removers[cluster].push_back([this, &family, &series, labels] {
        family.Remove(&series);
        known.erase({&family, labels});
      });
    }
    update(series);
  }

  // A gauge that only moves forward (times of the newest backup, the restorable point).
  void Newest(prometheus::Family<prometheus::Gauge>& family, const std::string& cluster,
              const Labels& labels, double value) {
    Update(family, cluster, labels,
           [value](prometheus::Gauge& g) { g.Set(std::max(g.Value(), value)); });
  }
};

namespace {
double Seconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }
std::string Code(absl::StatusCode code) { return absl::StatusCodeToString(code); }
}  // namespace

Metrics& Metrics::Get() {
  static Metrics* metrics = new Metrics();  // never destroyed: reported to until exit
  return *metrics;
}

Metrics::Metrics() : f_(std::make_unique<Families>()) {
  f_->build.Add({{"version", common::kVersion}}).Set(1);
}

Metrics::~Metrics() = default;

void Metrics::ApiCall(const std::string& rpc, absl::StatusCode code, double seconds) {
  const std::string key = absl::StrCat(rpc, " ", static_cast<int>(code));
  prometheus::Counter* counter = nullptr;
  prometheus::Histogram* histogram = nullptr;
  {
    std::shared_lock<std::shared_mutex> lock(f_->api_mu);
    auto c = f_->api_counters.find(key);
    auto h = f_->api_histograms.find(rpc);
    if (c != f_->api_counters.end()) counter = c->second;
    if (h != f_->api_histograms.end()) histogram = h->second;
  }
  if (!counter || !histogram) {
    std::unique_lock<std::shared_mutex> lock(f_->api_mu);
    counter = &f_->api_calls.Add({{"rpc", rpc}, {"code", Code(code)}});
    f_->api_counters[key] = counter;
    // Buckets from 0.5 ms (a Get on a warm catalog) to 10 s (a stalled catalog).
    histogram = &f_->api_seconds.Add({{"rpc", rpc}}, prometheus::Histogram::BucketBoundaries{
                                                         0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                         0.05, 0.1, 0.25, 0.5, 1, 2.5, 10});
    f_->api_histograms[rpc] = histogram;
  }
  counter->Increment();
  histogram->Observe(seconds);
}

void Metrics::BackupSucceeded(const BackupFigures& b) {
  BackupKnown(b);
  f_->Update(f_->backups, b.cluster,
             {{"engine", b.engine}, {"cluster", b.cluster}, {"code", Code(absl::StatusCode::kOk)}},
             [](prometheus::Counter& c) { c.Increment(); });
  f_->Changed();
}

void Metrics::BackupKnown(const BackupFigures& b) {
  const Labels cl{{"engine", b.engine}, {"cluster", b.cluster}};
  Labels with_method = cl;
  with_method["method"] = b.method;
  f_->Newest(f_->last_success, b.cluster, with_method, Seconds(b.completed));
  const double duration = absl::ToDoubleSeconds(b.completed - b.started);
  f_->Update(f_->last_duration, b.cluster, cl, [&](prometheus::Gauge& g) { g.Set(duration); });
  for (auto [kind, bytes] :
       {std::pair{"logical", b.logical_bytes}, std::pair{"stored", b.stored_bytes},
        std::pair{"added", b.added_bytes}}) {
    Labels l = cl;
    l["kind"] = kind;
    f_->Update(f_->last_bytes, b.cluster, l,
               [&](prometheus::Gauge& g) { g.Set(static_cast<double>(bytes)); });
  }
  f_->Newest(f_->restorable, b.cluster, cl, Seconds(b.completed));
  f_->Changed();
}

void Metrics::BackupFailed(const std::string& engine, const std::string& cluster,
                           absl::StatusCode code) {
  f_->Update(f_->backups, cluster, {{"engine", engine}, {"cluster", cluster}, {"code", Code(code)}},
             [](prometheus::Counter& c) { c.Increment(); });
  f_->Changed();
}

void Metrics::RestoreEnded(const std::string& engine, const std::string& target,
                           absl::StatusCode code) {
  f_->Update(f_->restores, target, {{"engine", engine}, {"cluster", target}, {"code", Code(code)}},
             [](prometheus::Counter& c) { c.Increment(); });
  f_->Changed();
}

void Metrics::OperationStarted(const std::string& kind) {
  f_->running.Add({{"kind", kind}}).Increment();
}

void Metrics::OperationEnded(const std::string& kind) {
  f_->running.Add({{"kind", kind}}).Decrement();
}

void Metrics::JournalPiece(const std::string& engine, const std::string& cluster,
                           const std::string& shard, size_t shards, absl::Time at,
                           uint64_t stored_bytes) {
  std::optional<double> reached;  // the oldest shard's newest piece, once every shard has one
  {
    std::lock_guard<std::mutex> lock(f_->mu);
    auto& ends = f_->journal_ends[cluster];
    ends[shard] = std::max(ends[shard], Seconds(at));
    if (ends.size() >= shards) {
      reached = ends.begin()->second;
      for (const auto& [name, end] : ends) reached = std::min(*reached, end);
    }
  }
  f_->Newest(f_->journal_last, cluster,
             {{"engine", engine}, {"cluster", cluster}, {"shard", shard}}, Seconds(at));
  f_->Update(f_->journal_bytes, cluster, {{"engine", engine}, {"cluster", cluster}},
             [&](prometheus::Counter& c) { c.Increment(static_cast<double>(stored_bytes)); });
  if (reached)
    f_->Newest(f_->restorable, cluster, {{"engine", engine}, {"cluster", cluster}}, *reached);
  f_->Changed();
}

void Metrics::Repository(const RepositoryFigures& r, absl::Time at) {
  f_->repo.Add({{"kind", "stored"}}).Set(static_cast<double>(r.stored_bytes));
  f_->repo.Add({{"kind", "logical"}}).Set(static_cast<double>(r.logical_bytes));
  f_->repo.Add({{"kind", "journal"}}).Set(static_cast<double>(r.journal_bytes));
  f_->repo.Add({{"kind", "reclaimable"}}).Set(static_cast<double>(r.reclaimable_bytes));
  f_->repo_objects.Add({{"kind", "packs"}}).Set(static_cast<double>(r.packs));
  f_->repo_objects.Add({{"kind", "chunks"}}).Set(static_cast<double>(r.chunks));
  f_->dedup.Add({}).Set(r.stored_bytes ? static_cast<double>(r.logical_bytes) /
                                             static_cast<double>(r.stored_bytes)
                                       : 0);
  f_->repo_gc.Add({}).Set(Seconds(at));
  RepositoryReachable(true);
}

void Metrics::RepositoryReachable(bool up) { f_->repo_up.Add({}).Set(up ? 1 : 0); }

void Metrics::ClusterDeclared(const std::string& engine, const std::string& cluster) {
  f_->Update(f_->declared, cluster, {{"engine", engine}, {"cluster", cluster}},
             [](prometheus::Gauge& g) { g.Set(1); });
  f_->Changed();
}

void Metrics::KnownClusters(const std::set<std::string>& ids) {
  std::lock_guard<std::mutex> lock(f_->mu);
  f_->allowed = ids;
}

void Metrics::ForgetCluster(const std::string& cluster) {
  std::lock_guard<std::mutex> lock(f_->mu);
  f_->journal_ends.erase(cluster);
  auto it = f_->removers.find(cluster);
  if (it == f_->removers.end()) return;
  for (auto& remove : it->second) remove();
  f_->removers.erase(it);
  f_->Changed();
}

std::string Metrics::Text() const {
  std::string live = prometheus::TextSerializer().Serialize(f_->registry.Collect());
  std::lock_guard<std::mutex> lock(f_->render_mu);
  // Read before collecting: an event during the collection leaves the generation ahead of what
  // was rendered, and the next scrape renders again.
  const uint64_t generation = f_->generation.load();
  if (generation != f_->rendered_generation) {
    f_->rendered = prometheus::TextSerializer().Serialize(f_->clusters.Collect());
    f_->rendered_generation = generation;
  }
  return absl::StrCat(f_->rendered, live);
}

}  // namespace mdb::metrics
