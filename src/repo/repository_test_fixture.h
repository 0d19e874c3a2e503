// The repository tests' fixture: a fresh posix repository per test, small chunks and packs, and
// a backup helper that writes each stream on its own thread.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/test_dir.h"
#include "io/stream.h"
#include "repo/repository.h"
#include "storage/posix/posix_storage.h"

namespace mdb::repo {

namespace fs = std::filesystem;

inline std::string Data(size_t n, uint32_t seed) {
  // Compressible but not trivial: random words from a small vocabulary.
  std::mt19937 rng(seed);
  static const char* kWords[] = {"alpha ", "beta ", "gamma ", "delta ",      "epsilon ",
                                 "zeta ",  "eta ",  "theta ", "0123456789 ", "backup "};
  std::string s;
  s.reserve(n);
  while (s.size() < n) s += kWords[rng() % 10];
  s.resize(n);
  for (size_t i = 0; i < n; i += 97) s[i] = static_cast<char>(rng());
  return s;
}

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = common::FreshTestDir("repo_test");
    storage_ = std::move(*storage::OpenPosixStorage(dir_.string()));
  }
  void TearDown() override { fs::remove_all(dir_); }

  InitOptions Small() {
    InitOptions o;
    o.chunker = {.min_size = 16 << 10, .avg_size = 64 << 10, .max_size = 256 << 10};
    o.pack_target_size = 1 << 20;
    return o;
  }

  absl::StatusOr<Manifest> Backup(Repository* repo, const std::string& id,
                                  const std::vector<std::pair<std::string, std::string>>& streams) {
    auto w = repo->StartBackup({.backup_id = id, .engine = "test"});
    if (!w.ok()) return w.status();
    std::vector<std::thread> threads;
    std::vector<absl::Status> results(streams.size());
    for (size_t i = 0; i < streams.size(); ++i) {
      threads.emplace_back([&, i] {
        io::StringSource src(streams[i].second);
        results[i] = (*w)->AddStream(streams[i].first, &src);
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& r : results) {
      if (!r.ok()) return r;
    }
    return (*w)->Commit("meta");
  }

  std::string Restore(Repository* repo, const std::string& id, const std::string& stream) {
    auto m = repo->ReadManifest(id);
    EXPECT_TRUE(m.ok()) << m.status();
    io::StringSink sink;
    absl::Status st = repo->RestoreStream(*m, stream, &sink);
    EXPECT_TRUE(st.ok()) << st;
    return sink.data();
  }

  fs::path dir_;
  std::unique_ptr<storage::Storage> storage_;
};

}  // namespace mdb::repo
