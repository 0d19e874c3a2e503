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

// One cluster's series, in a registry of its own: the library renders whole registries only,
// and rendering every cluster's series (1,000 clusters are ~7,000 of them; 6 ms, mostly number
// formatting) after each event missed the scrape target. Per cluster, an event re-renders the
// text of that cluster alone; a scrape joins the cached texts family by family.
struct ClusterSeries {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Gauge>& declared =
      prometheus::BuildGauge()
          .Name("mdb_cluster_declared")
          .Help("1 for each cluster the service protects (declared, not a restore target).")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& last_success =
      prometheus::BuildGauge()
          .Name("mdb_backup_last_success_timestamp_seconds")
          .Help("When the cluster's newest successful backup of each method completed.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& last_duration =
      prometheus::BuildGauge()
          .Name("mdb_backup_last_duration_seconds")
          .Help("How long the cluster's newest successful backup ran.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& last_bytes =
      prometheus::BuildGauge()
          .Name("mdb_backup_last_size_bytes")
          .Help(
              "The newest successful backup's sizes: logical (what it holds), stored (the "
              "repository bytes it references), added (new to the repository).")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& backups =
      prometheus::BuildCounter()
          .Name("mdb_backups_total")
          .Help("Backups run by this instance since it started, by outcome (the status code).")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& restores =
      prometheus::BuildCounter()
          .Name("mdb_restores_total")
          .Help("Restores into a cluster run by this instance, by outcome (the status code).")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& restorable =
      prometheus::BuildGauge()
          .Name("mdb_restorable_until_timestamp_seconds")
          .Help(
              "The newest point the cluster can be restored to: its newest backup, or the end "
              "of its archived journal for engines with point-in-time restore.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& journal_last =
      prometheus::BuildGauge()
          .Name("mdb_journal_last_piece_timestamp_seconds")
          .Help("When the newest journal piece (WAL segment) of the shard was archived.")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& journal_bytes =
      prometheus::BuildCounter()
          .Name("mdb_journal_archived_bytes_total")
          .Help("Stored bytes of journal pieces archived by this instance since it started.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& last_verified =
      prometheus::BuildGauge()
          .Name("mdb_backup_last_verified_timestamp_seconds")
          .Help(
              "When a restore drill of one of the cluster's backups last passed (restored and "
              "found as the backup recorded).")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& drills =
      prometheus::BuildCounter()
          .Name("mdb_drills_total")
          .Help("Restore drills run by this instance since it started, by result (passed, failed).")
          .Register(registry);
  // When the newest journal piece of each shard was archived.
  std::map<std::string, double> journal_ends;
};

// A cluster's rendered text, per family name: the "# HELP"/"# TYPE" header and the samples.
struct RenderedCluster {
  std::map<std::string, std::pair<std::string, std::string>> families;
};

struct Metrics::Families {
  // Series that change at every call (API, operations running, the repository), rendered at
  // each scrape.
  prometheus::Registry registry;
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
  prometheus::Family<prometheus::Gauge>& running =
      prometheus::BuildGauge()
          .Name("mdb_operations_running")
          .Help("Operations running on this instance, by kind.")
          .Register(registry);
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
  prometheus::Family<prometheus::Counter>& repo_gcs =
      prometheus::BuildCounter()
          .Name("mdb_repository_gc_total")
          .Help(
              "Repository GCs run by this instance since it started, by outcome (the status "
              "code; a GC that waits for a running backup or another GC is not counted).")
          .Register(registry);

  // The clusters' series (guarded by mu; a series is updated under mu too, so a cluster
  // forgotten at a reload can neither leave one behind nor have one freed under an update,
  // and read-modify-write updates such as the newest time are not interleaved). Events of
  // cluster series are rare: a backup's end, a WAL segment.
  std::mutex mu;
  std::map<std::string, std::shared_ptr<ClusterSeries>> clusters;
  std::set<std::string> dirty;  // clusters changed since their text was rendered
  // Clusters series may be kept for (the config's); nullopt until the server says (unit tests).
  std::optional<std::set<std::string>> allowed;

  // The rendered text of each cluster (scrapes only, under render_mu: no event waits on it).
  std::mutex render_mu;
  std::map<std::string, RenderedCluster> rendered;
  std::string joined;  // every cluster's text, as of the last scrape

  // API series, looked up without the families' locks (which a scrape holds while copying).
  std::shared_mutex api_mu;
  std::unordered_map<std::string, prometheus::Counter*> api_counters;
  std::unordered_map<std::string, prometheus::Histogram*> api_histograms;

  // Applies `update` to the series of the cluster's family (`family` picks it from the
  // cluster's ClusterSeries) with `labels`, under mu, and marks the cluster for rendering.
  // Series of clusters not in the config are not made (a late event of a removed cluster).
  template <typename Pick, typename F, typename... Args>
  void Update(const std::string& cluster, Pick family, const Labels& labels, F update,
              Args&&... args) {
    std::lock_guard<std::mutex> lock(mu);
    if (allowed && !allowed->count(cluster)) return;
    auto& series = clusters[cluster];
    if (!series) series = std::make_shared<ClusterSeries>();
    update(family(*series).Add(labels, std::forward<Args>(args)...));
    dirty.insert(cluster);
  }

  // A gauge that only moves forward (times of the newest backup, the restorable point).
  template <typename Pick>
  void Newest(const std::string& cluster, Pick family, const Labels& labels, double value) {
    Update(cluster, family, labels,
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
  // From 0, so that the first damage found is an increase (an alert's `increase()` needs the
  // series before it).
  f_->repo_gcs.Add({{"code", Code(absl::StatusCode::kDataLoss)}});
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

// Which family of a cluster's series an update is about.
#define MDB_FAMILY(name) \
  [](ClusterSeries & s) -> auto& { return s.name; }

void Metrics::BackupSucceeded(const BackupFigures& b) {
  BackupKnown(b);
  f_->Update(b.cluster, MDB_FAMILY(backups),
             {{"engine", b.engine}, {"cluster", b.cluster}, {"code", Code(absl::StatusCode::kOk)}},
             [](prometheus::Counter& c) { c.Increment(); });
}

void Metrics::BackupKnown(const BackupFigures& b) {
  const Labels cl{{"engine", b.engine}, {"cluster", b.cluster}};
  Labels with_method = cl;
  with_method["method"] = b.method;
  f_->Newest(b.cluster, MDB_FAMILY(last_success), with_method, Seconds(b.completed));
  const double duration = absl::ToDoubleSeconds(b.completed - b.started);
  f_->Update(b.cluster, MDB_FAMILY(last_duration), cl,
             [&](prometheus::Gauge& g) { g.Set(duration); });
  for (auto [kind, bytes] :
       {std::pair{"logical", b.logical_bytes}, std::pair{"stored", b.stored_bytes},
        std::pair{"added", b.added_bytes}}) {
    Labels l = cl;
    l["kind"] = kind;
    f_->Update(b.cluster, MDB_FAMILY(last_bytes), l,
               [&](prometheus::Gauge& g) { g.Set(static_cast<double>(bytes)); });
  }
  f_->Newest(b.cluster, MDB_FAMILY(restorable), cl, Seconds(b.completed));
}

void Metrics::BackupFailed(const std::string& engine, const std::string& cluster,
                           absl::StatusCode code) {
  f_->Update(cluster, MDB_FAMILY(backups),
             {{"engine", engine}, {"cluster", cluster}, {"code", Code(code)}},
             [](prometheus::Counter& c) { c.Increment(); });
}

void Metrics::RestoreEnded(const std::string& engine, const std::string& target,
                           absl::StatusCode code) {
  f_->Update(target, MDB_FAMILY(restores),
             {{"engine", engine}, {"cluster", target}, {"code", Code(code)}},
             [](prometheus::Counter& c) { c.Increment(); });
}

void Metrics::DrillEnded(const std::string& engine, const std::string& cluster, bool passed,
                         absl::Time at, bool counted) {
  const Labels cl{{"engine", engine}, {"cluster", cluster}};
  if (counted) {
    Labels l = cl;
    l["result"] = passed ? "passed" : "failed";
    f_->Update(cluster, MDB_FAMILY(drills), l, [](prometheus::Counter& c) { c.Increment(); });
  }
  if (passed) f_->Newest(cluster, MDB_FAMILY(last_verified), cl, Seconds(at));
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
  const Labels cl{{"engine", engine}, {"cluster", cluster}};
  Labels with_shard = cl;
  with_shard["shard"] = shard;
  std::optional<double> reached;  // the oldest shard's newest piece, once every shard has one
  f_->Newest(
      cluster,
      [&](ClusterSeries & s) -> auto& {
        auto& end = s.journal_ends[shard];
        end = std::max(end, Seconds(at));
        if (s.journal_ends.size() >= shards) {
          reached = end;
          for (const auto& [name, e] : s.journal_ends) reached = std::min(*reached, e);
        }
        return s.journal_last;
      },
      with_shard, Seconds(at));
  f_->Update(cluster, MDB_FAMILY(journal_bytes), cl,
             [&](prometheus::Counter& c) { c.Increment(static_cast<double>(stored_bytes)); });
  if (reached) f_->Newest(cluster, MDB_FAMILY(restorable), cl, *reached);
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

void Metrics::RepositoryGcEnded(absl::StatusCode code) {
  f_->repo_gcs.Add({{"code", Code(code)}}).Increment();
}

void Metrics::ClusterDeclared(const std::string& engine, const std::string& cluster) {
  f_->Update(cluster, MDB_FAMILY(declared), {{"engine", engine}, {"cluster", cluster}},
             [](prometheus::Gauge& g) { g.Set(1); });
}

#undef MDB_FAMILY

void Metrics::KnownClusters(const std::set<std::string>& ids) {
  std::lock_guard<std::mutex> lock(f_->mu);
  f_->allowed = ids;
}

void Metrics::ForgetCluster(const std::string& cluster) {
  std::lock_guard<std::mutex> lock(f_->mu);
  if (f_->clusters.erase(cluster)) f_->dirty.insert(cluster);  // its text goes at the next scrape
}

namespace {

// Splits the library's text of a registry into its families: each starts with "# HELP <name> "
// and "# TYPE <name> <type>" lines, then its samples (none of which starts with '#').
void SplitFamilies(const std::string& text, RenderedCluster* out) {
  size_t at = 0;
  while (at < text.size()) {
    size_t next = text.find("\n# HELP ", at);
    next = next == std::string::npos ? text.size() : next + 1;
    const size_t name_at = at + 7;  // past "# HELP "
    const size_t name_end = text.find(' ', name_at);
    size_t body = text.find('\n', text.find('\n', at) + 1);  // past the TYPE line
    if (text.compare(at, 7, "# HELP ") != 0 || name_end == std::string::npos || body >= next) {
      return;  // not the library's shape: nothing cached rather than a broken exposition
    }
    ++body;
    out->families[text.substr(name_at, name_end - name_at)] = {text.substr(at, body - at),
                                                               text.substr(body, next - body)};
    at = next;
  }
}

}  // namespace

std::string Metrics::Text() const {
  std::string live = prometheus::TextSerializer().Serialize(f_->registry.Collect());
  std::lock_guard<std::mutex> render_lock(f_->render_mu);
  // The clusters changed since the last scrape, taken with their series; an event during the
  // rendering marks its cluster again, for the next scrape.
  std::vector<std::pair<std::string, std::shared_ptr<ClusterSeries>>> changed;
  {
    std::lock_guard<std::mutex> lock(f_->mu);
    for (const auto& id : f_->dirty) {
      auto it = f_->clusters.find(id);
      changed.emplace_back(id, it == f_->clusters.end() ? nullptr : it->second);
    }
    f_->dirty.clear();
  }
  if (changed.empty()) return absl::StrCat(f_->joined, live);
  const prometheus::TextSerializer serializer;
  for (const auto& [id, series] : changed) {
    if (!series) {
      f_->rendered.erase(id);
      continue;
    }
    RenderedCluster& out = f_->rendered[id];
    out.families.clear();
    SplitFamilies(serializer.Serialize(series->registry.Collect()), &out);
  }
  // Family by family (one header each, as the format requires), every cluster's samples.
  std::map<std::string, std::pair<std::string, std::string>> joined;
  for (const auto& [id, cluster] : f_->rendered) {
    for (const auto& [name, text] : cluster.families) {
      auto& [header, samples] = joined[name];
      if (header.empty()) header = text.first;
      samples += text.second;
    }
  }
  f_->joined.clear();
  for (const auto& [name, text] : joined) absl::StrAppend(&f_->joined, text.first, text.second);
  return absl::StrCat(f_->joined, live);
}

}  // namespace mdb::metrics
