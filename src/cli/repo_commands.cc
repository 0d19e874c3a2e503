// Every command opens the repository, does one thing, and prints a short human-readable report
// (sizes in MB, 1 MB = 10^6 bytes, as the benchmarks use). Exit codes: 0 success, 1 error,
// 3 verify found damage.
#include "cli/repo_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "catalog/catalog.h"
#include "common/ids.h"
#include "repo/repository.h"
#include "repo/restore_dir.h"

namespace mdb::cli {

absl::StatusOr<OpenedRepo> OpenRepository(const std::string& url, const std::string& key_file,
                                          int threads) {
  OpenedRepo o;
  auto st = storage::OpenStorage(url);
  if (!st.ok()) return st.status();
  o.storage = std::move(*st);
  repo::OpenOptions opts{.threads = threads};
  if (!key_file.empty()) {
    auto key = repo::ReadKeyFile(key_file);
    if (!key.ok()) return key.status();
    opts.key = *key;
  }
  auto r = repo::Repository::Open(o.storage.get(), opts);
  if (!r.ok()) return r.status();
  o.repo = std::move(*r);
  return o;
}

namespace {

struct RepoArgs {
  std::string url;
  std::string key_file;
  int threads = 3;
  // init
  int zstd_level = 1;
  uint32_t chunk_avg_kib = 1024;
  // backup / restore / delete / verify
  std::string id;
  std::vector<std::string> files;
  std::string out_dir;
  std::vector<std::string> ids;
  std::string catalog;  // verify: also compare with this catalog file
  std::string cluster;  // journal: whose pieces
  int incomplete_older_than_s = 600;
};

std::string Mb(uint64_t bytes) { return absl::StrFormat("%.1f MB", bytes / 1e6); }

int Fail(const absl::Status& st) {
  std::cerr << "mdb-backup: " << st.message() << "\n";
  return 1;
}

absl::StatusOr<OpenedRepo> OpenRepo(const RepoArgs& a) {
  return OpenRepository(a.url, a.key_file, a.threads);
}

int Init(const RepoArgs& a) {
  auto st = storage::OpenStorage(a.url);
  if (!st.ok()) return Fail(st.status());
  repo::InitOptions o;
  o.zstd_level = a.zstd_level;
  uint32_t avg = a.chunk_avg_kib * 1024;
  o.chunker = {.min_size = avg / 4, .avg_size = avg, .max_size = avg * 4};
  if (!a.key_file.empty()) {
    auto key = repo::ReadKeyFile(a.key_file);
    if (!key.ok()) return Fail(key.status());
    o.key = *key;
  }
  auto r = repo::Repository::Init(st->get(), o);
  if (!r.ok()) return Fail(r.status());
  std::cout << "initialized repository " << (*r)->config().repo_id() << " at " << (*st)->Describe()
            << " (encryption: " << (*r)->config().encryption() << ", zstd level " << o.zstd_level
            << ", chunks ~" << a.chunk_avg_kib << " KiB)\n";
  return 0;
}

int Backup(const RepoArgs& a) {
  auto o = OpenRepo(a);
  if (!o.ok()) return Fail(o.status());
  std::string id = a.id.empty() ? common::NewId() : a.id;
  auto w = o->repo->StartBackup({.backup_id = id, .engine = "files"});
  if (!w.ok()) return Fail(w.status());
  absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(a.files.size());
  for (size_t i = 0; i < a.files.size(); ++i) {
    threads.emplace_back([&, i] {
      int fd = a.files[i] == "-" ? 0 : open(a.files[i].c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        results[i] = absl::NotFoundError("cannot open '" + a.files[i] + "'");
        return;
      }
      io::FdSource src(fd);
      std::string name = a.files[i] == "-" ? "stdin" : std::to_string(i);
      results[i] = (*w)->AddStream(name, &src);
      if (fd != 0) close(fd);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    if (!r.ok()) {
      (*w)->Abort();
      return Fail(r);
    }
  }
  auto m = (*w)->Commit("");
  if (!m.ok()) return Fail(m.status());
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::cout << absl::StrFormat(
      "backup %s: %d streams, %s read, %s referenced, %s added, %.2f s (%.0f MB/s)\n", id,
      m->streams_size(), Mb(m->logical_bytes()), Mb(m->stored_bytes()), Mb(m->added_bytes()), secs,
      m->logical_bytes() / 1e6 / std::max(secs, 1e-9));
  return 0;
}

int Restore(const RepoArgs& a) {
  auto o = OpenRepo(a);
  if (!o.ok()) return Fail(o.status());
  // Marked before anything is read, as the service's restores are: a delete or retention of the
  // service (or another CLI) leaves the backup alone meanwhile, and one under way refuses this.
  auto mark = o->repo->MarkRead({a.id});
  if (absl::IsFailedPrecondition(mark.status())) return Fail(mark.status());
  if (!mark.ok()) {  // read-only credentials, a full quota: the bad day's restore still runs
    std::cerr << "mdb-backup: warning: the restore goes on without its repository mark ("
              << mark.status().message() << "): a delete elsewhere is not held off\n";
  }
  absl::Time start = absl::Now();
  auto r = [&]() -> absl::StatusOr<repo::RestoreDirReport> {
    auto m = o->repo->ReadManifest(a.id);
    if (!m.ok()) return m.status();
    return repo::RestoreToDirectory(o->repo.get(), *m, a.out_dir);
  }();
  // Why what it read may have gone: asked before the mark is given back.
  const absl::Status failed = o->repo->WithLapsedMarks(
      r.status(), mark.ok() ? std::vector<std::string>{*mark} : std::vector<std::string>{});
  if (mark.ok()) o->repo->Unmark(*mark);
  if (!failed.ok()) return Fail(failed);
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::cout << absl::StrFormat("restored %s: %d streams, %s in %.2f s (%.0f MB/s) into %s\n", a.id,
                               r->streams, Mb(r->bytes), secs,
                               r->bytes / 1e6 / std::max(secs, 1e-9), a.out_dir);
  return 0;
}

int List(const RepoArgs& a) {
  auto o = OpenRepo(a);
  if (!o.ok()) return Fail(o.status());
  auto ids = o->repo->ListBackups();
  if (!ids.ok()) return Fail(ids.status());
  for (const auto& id : *ids) {
    auto m = o->repo->ReadManifest(id);
    if (!m.ok()) {
      std::cout << id << "  DAMAGED: " << m.status().message() << "\n";
      continue;
    }
    std::cout << absl::StrFormat("%s  %s  streams=%d  logical=%s  referenced=%s  added=%s\n", id,
                                 absl::FormatTime(absl::FromUnixSeconds(m->created_at().seconds())),
                                 m->streams_size(), Mb(m->logical_bytes()), Mb(m->stored_bytes()),
                                 Mb(m->added_bytes()));
  }
  return 0;
}

// The journal pieces (WAL segments) of one cluster: shard, positions, name, stored size and
// commit time, one per line.
int Journal(const RepoArgs& a) {
  auto o = OpenRepo(a);
  if (!o.ok()) return Fail(o.status());
  auto pieces = o->repo->journal().List(a.cluster);
  if (!pieces.ok()) return Fail(pieces.status());
  for (const auto& p : *pieces) {
    std::cout << absl::StrFormat("%s  %016x-%016x  %s  %s  %s\n", p.shard, p.start, p.end, p.name,
                                 Mb(p.stored_bytes), absl::FormatTime(p.committed));
  }
  return 0;
}

int Verify(const RepoArgs& a) {
  auto o = OpenRepo(a);
  if (!o.ok()) return Fail(o.status());
  auto r = o->repo->Verify(a.ids);
  if (!r.ok()) return Fail(r.status());
  if (!a.catalog.empty()) {
    // The catalog is an index of the repository: a row without a manifest is a backup whose data
    // is gone (or an imported record, which never had any); a service's manifest without a row
    // is one the catalog lost (`catalog rebuild` adds it back).
    auto catalog = catalog::OpenCatalog(a.catalog);
    if (!catalog.ok()) return Fail(catalog.status());
    auto rows = (*catalog)->ListAllBackupIds();
    auto manifests = o->repo->ListBackups();
    if (!rows.ok()) return Fail(rows.status());
    if (!manifests.ok()) return Fail(manifests.status());
    std::set<std::string> in_repo(manifests->begin(), manifests->end());
    std::set<std::string> in_catalog(rows->begin(), rows->end());
    for (const auto& id : in_catalog) {
      if (in_repo.count(id)) continue;
      r->problems.push_back(
          absl::StrCat("backup '", id, "' is in the catalog but not in the repository"));
      r->damaged.push_back(id);
    }
    for (const auto& id : in_repo) {
      if (in_catalog.count(id)) continue;
      auto m = o->repo->ReadManifest(id);
      if (m.ok() && m->service_record().empty()) continue;  // a journal piece or a CLI backup
      r->problems.push_back(absl::StrCat(
          "backup '", id,
          "' is in the repository but not in the catalog (mdb-backup catalog rebuild adds it)"));
    }
  }
  for (const auto& p : r->problems) std::cout << "problem: " << p << "\n";
  std::cout << absl::StrFormat("verified %d backups, %d chunks, %s: ", r->backups_checked,
                               r->chunks_checked, Mb(r->bytes_checked));
  // Every problem is damage: a verify that printed one must not end with "all intact".
  if (r->damaged.empty() && r->problems.empty()) {
    std::cout << "all intact\n";
    return 0;
  }
  std::cout << r->problems.size() << " problems, " << r->damaged.size() << " damaged:";
  for (const auto& id : r->damaged) std::cout << " " << id;
  std::cout << "\n";
  return 3;
}

int Gc(const RepoArgs& a) {
  auto o = OpenRepo(a);
  if (!o.ok()) return Fail(o.status());
  auto r = o->repo->Gc({.incomplete_older_than = absl::Seconds(a.incomplete_older_than_s)});
  if (!r.ok()) return Fail(r.status());
  std::cout << absl::StrFormat(
      "gc: %d backups kept; %d packs deleted, %d repacked, %s freed; %d packs kept (%s of "
      "unreferenced chunks left in them); %d half-written objects removed\n",
      r->backups, r->packs_deleted, r->packs_repacked, Mb(std::max<int64_t>(r->bytes_freed, 0)),
      r->packs_kept, Mb(r->unreferenced_bytes_kept), r->incomplete_removed);
  return 0;
}

int Stats(const RepoArgs& a) {
  auto o = OpenRepo(a);
  if (!o.ok()) return Fail(o.status());
  auto s = o->repo->Stats();
  if (!s.ok()) return Fail(s.status());
  std::cout << absl::StrFormat(
      "%s: %d backups, %s logical, %s stored in %d packs, %d chunks; journal: %d pieces, %s; "
      "encryption %s\n",
      o->storage->Describe(), s->backups, Mb(s->logical_bytes), Mb(s->stored_bytes), s->packs,
      s->chunks, s->journal_pieces, Mb(s->journal_bytes), o->repo->config().encryption());
  return 0;
}

int Delete(const RepoArgs& a) {
  auto o = OpenRepo(a);
  if (!o.ok()) return Fail(o.status());
  // A restore of it by the service (another process) holds it off, as it holds off the service's
  // own deletes.
  std::vector<std::string> ids = {a.id};
  std::string reader;
  auto mark = o->repo->MarkDelete(&ids, &reader);
  if (!mark.ok()) return Fail(mark.status());
  if (ids.empty()) {
    return Fail(absl::FailedPreconditionError(absl::StrCat("backup '", a.id,
                                                           "' is being restored (or drilled) by ",
                                                           reader, "; delete it when that ends")));
  }
  absl::Status st = o->repo->DeleteBackup(a.id);
  o->repo->Unmark(*mark);
  if (!st.ok()) return Fail(st);
  std::cout << "deleted backup " << a.id << "; run 'mdb-backup repo gc' to free its data\n";
  return 0;
}

}  // namespace

std::function<int()> AddRepoCommands(CLI::App* app) {
  auto args = std::make_shared<RepoArgs>();
  auto* repo = app->add_subcommand("repo", "work on a backup repository directly");
  repo->require_subcommand(1);
  repo->add_option("--repo", args->url, "repository: /path or s3://bucket/prefix?endpoint=...")
      ->required()
      ->envname("MDB_BACKUP_REPO");
  repo->add_option("--key-file", args->key_file, "key of an encrypted repository (32 bytes)")
      ->envname("MDB_BACKUP_KEY_FILE");
  repo->add_option("--threads", args->threads, "worker threads (default 3)");
  auto* init = repo->add_subcommand("init", "create a repository");
  init->add_option("--zstd-level", args->zstd_level, "compression level 1-19 (default 1)");
  init->add_option("--chunk-avg-kib", args->chunk_avg_kib, "average chunk size, a power of two");
  auto* backup = repo->add_subcommand("backup", "back up files (or - for stdin) as one backup");
  backup->add_option("--id", args->id, "backup id (default: a new one)");
  backup->add_option("files", args->files)->required();
  auto* restore = repo->add_subcommand("restore", "restore every stream of a backup into a dir");
  restore->add_option("id", args->id)->required();
  restore->add_option("--to", args->out_dir)->required();
  auto* list = repo->add_subcommand("list", "list backups");
  auto* journal = repo->add_subcommand("journal", "list a cluster's journal pieces (WAL)");
  journal->add_option("--cluster", args->cluster, "the cluster's id")->required();
  auto* verify = repo->add_subcommand("verify", "re-read and check backups (all by default)");
  verify->add_option("ids", args->ids);
  verify->add_option("--catalog", args->catalog,
                     "also list backups the catalog (SQLite file or postgresql:// URI) has and the "
                     "repository lacks, and the other way round");
  auto* gc = repo->add_subcommand("gc", "delete data no backup needs");
  gc->add_option("--incomplete-older-than", args->incomplete_older_than_s,
                 "seconds after which half-written objects count as garbage (default 600)");
  auto* stats = repo->add_subcommand("stats", "sizes and counts");
  auto* del = repo->add_subcommand("delete", "delete a backup (gc frees its data)");
  del->add_option("id", args->id)->required();
  return [=]() -> int {
    if (*init) return Init(*args);
    if (*backup) return Backup(*args);
    if (*restore) return Restore(*args);
    if (*list) return List(*args);
    if (*journal) return Journal(*args);
    if (*verify) return Verify(*args);
    if (*gc) return Gc(*args);
    if (*stats) return Stats(*args);
    if (*del) return Delete(*args);
    return 2;
  };
}

}  // namespace mdb::cli
