// The Jobs tests' fixture: a fake engine whose backups write fixed streams (and can be held,
// failed or marked whole), over a real posix repository and SQLite catalog.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "catalog/catalog.h"
#include "common/status.h"
#include "common/test_dir.h"
#include "common/test_engines.h"
#include "engine/registry.h"
#include "io/stream.h"
#include "ops/jobs.h"
#include "storage/posix/posix_storage.h"

namespace mdb::ops::jobs_fakes {

namespace fs = std::filesystem;

// What the fake engine does, set by each test.
struct FakeEngine {
  std::map<std::string, std::string> streams;  // written by every backup, in order
  bool incremental = false;
  bool whole = false;                    // the next backups took nothing from their parent
  absl::Status fail_after_first_stream;  // returned once one stream is written
  std::atomic<bool> hold{false};  // backups (after their streams) and restores wait here while set
  std::atomic<bool> holding{false};
  std::map<std::string, std::string> restored;  // stream -> bytes, by the last restore
  std::string metadata = "start=0";             // the next backup's journal start (shard1)
  std::vector<engine::JournalPiece> journal;    // what ListJournal reports
  std::vector<std::string> archiver_events;     // "start c1", "stop c1", in order
  std::function<void(const engine::JournalPiece&)> report;  // the last archiver's on_piece
  std::vector<std::map<std::string, uint64_t>> prunes;      // keep_from of each PruneJournal
};

// An archiver that only says when it starts and stops.
class FakeJournal final : public engine::Journal {
 public:
  FakeJournal(FakeEngine* e, std::string id) : e_(e), id_(std::move(id)) {
    e_->archiver_events.push_back("start " + id_);
  }
  ~FakeJournal() override { e_->archiver_events.push_back("stop " + id_); }

 private:
  FakeEngine* e_;
  std::string id_;
};

class FakeDriver final : public engine::Driver {
 public:
  explicit FakeDriver(FakeEngine* e) : e_(e) {}
  engine::Capabilities capabilities() const override { return {.incremental = e_->incremental}; }
  absl::StatusOr<engine::BackupResult> Backup(const engine::BackupRequest& r) override {
    for (const auto& [name, content] : e_->streams) {
      io::StringSource src(content);
      RETURN_IF_ERROR(r.writer->AddStream(name, &src));
      if (!e_->fail_after_first_stream.ok()) return e_->fail_after_first_stream;
    }
    while (e_->hold.load()) {
      e_->holding = true;
      if (r.cancelled->load()) return absl::CancelledError("fake backup cancelled");
      absl::SleepFor(absl::Milliseconds(1));
    }
    return engine::BackupResult{
        .shard_names = {"shard1"}, .metadata = e_->metadata, .whole = e_->whole};
  }
  std::map<std::string, uint64_t> JournalStarts(const repo::Manifest& m) override {
    return {{"shard1", std::stoull(m.engine_metadata().substr(6))}};  // "start=N"
  }
  absl::StatusOr<std::vector<engine::JournalPiece>> ListJournal(repo::JournalStore*,
                                                                const std::string&) override {
    return e_->journal;
  }
  absl::Status PruneJournal(repo::JournalStore*, const std::string&,
                            const std::map<std::string, uint64_t>& keep_from) override {
    e_->prunes.push_back(keep_from);
    return absl::OkStatus();
  }
  std::unique_ptr<engine::Journal> StartJournal(const engine::JournalOptions& o) override {
    e_->report = o.on_piece;
    return std::make_unique<FakeJournal>(e_, o.cluster->id);
  }
  absl::Status Restore(const engine::RestoreRequest& r) override {
    while (e_->hold.load()) {  // held like a backup, before it reads anything
      e_->holding = true;
      if (r.cancelled->load()) return absl::CancelledError("fake restore cancelled");
      absl::SleepFor(absl::Milliseconds(1));
    }
    e_->restored.clear();
    for (const auto& s : r.manifest->streams()) {
      io::StringSink sink;
      RETURN_IF_ERROR(r.repository->RestoreStream(*r.manifest, s.name(), &sink));
      e_->restored[s.name()] = sink.data();
    }
    return absl::OkStatus();
  }

 private:
  FakeEngine* e_;
};

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = common::FreshTestDir("jobs");
    storage_ = std::move(*storage::OpenPosixStorage((dir_ / "repo").string()));
    // Small packs and incompressible data: a backup seals packs while it streams, so a failed
    // one leaves packs behind unless they are collected (with 16 MiB packs nothing would be
    // written before the commit, and the collection could not be seen).
    repo::InitOptions init;
    init.chunker = {.min_size = 16 << 10, .avg_size = 64 << 10, .max_size = 256 << 10};
    init.pack_target_size = 1 << 20;
    repo_ = std::move(*repo::Repository::Init(storage_.get(), init));
    catalog_ = std::move(*catalog::OpenSqliteCatalog((dir_ / "catalog.db").string()));
    // The fake engine is one row: Redis's public face, this test's driver.
    engines_ = std::make_unique<engine::EngineRegistry>(*engine::EngineRegistry::Make(
        {{.info = *common::TestEngines().Find(common::Engine::REDIS),
          .make_driver = [this] { return std::make_unique<FakeDriver>(&fake_); }}}));
    jobs_ = std::make_unique<Jobs>(catalog_.get(), repo_.get(), *engines_);
    cluster_ = {
        .id = "c1", .folder_id = "f1", .engine = common::Engine::REDIS, .retention_days = 7};
    std::string data(3 << 20, '\0');
    uint64_t x = 88172645463325252ull;  // xorshift: bytes zstd cannot shrink
    for (char& c : data) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      c = static_cast<char>(x);
    }
    fake_.streams = {{"shard1/data", data}, {"shard1/tail", "tail"}};
  }
  void TearDown() override {
    jobs_.reset();
    fs::remove_all(dir_);
  }

  absl::StatusOr<catalog::BackupRecord> Backup(
      const std::string& id,
      catalog::BackupRecord::CreationType type = catalog::BackupRecord::MANUAL) {
    return jobs_->Backup(cluster_, id, type, {.cancelled = cancelled_, .progress = progress_});
  }
  repo::RepoStats Stats() { return *repo_->Stats(); }
  // Starts a restore of `backup` that the fake engine holds (fake_.hold set) before it reads, and
  // returns once it is held (or after 30 s, failing the test); `*restored` is its status.
  std::thread StartHeldRestore(const catalog::BackupRecord& backup, absl::Status* restored) {
    fake_.hold = true;
    std::thread t([this, backup, restored] {
      *restored =
          jobs_->Restore(backup, cluster_, {.cancelled = cancelled_, .progress = progress_});
    });
    for (absl::Time give_up = absl::Now() + absl::Seconds(30); !fake_.holding.load();) {
      if (absl::Now() > give_up) {
        ADD_FAILURE() << "the restore was never held";
        break;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    return t;
  }

  fs::path dir_;
  FakeEngine fake_;
  std::unique_ptr<storage::Storage> storage_;
  std::unique_ptr<repo::Repository> repo_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<engine::EngineRegistry> engines_;
  std::unique_ptr<Jobs> jobs_;
  common::ClusterConfig cluster_;
  CancelFlag cancelled_{false};
  Progress progress_;
};

}  // namespace mdb::ops::jobs_fakes
