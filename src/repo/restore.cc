// Reading backups back: restore with a window of chunks fetched ahead on the pool (storage
// latency overlaps with decoding and with the sink), and verify, which re-reads whole packs once
// each instead of chunk by chunk.
#include <deque>
#include <future>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "repo/pack.h"
#include "repo/repository.h"

namespace mdb::repo {
namespace {

constexpr size_t kPrefetchWindow = 8;

ChunkId ToId(const std::string& bytes) {
  ChunkId id{};
  if (bytes.size() == id.size()) memcpy(id.data(), bytes.data(), id.size());
  return id;
}

}  // namespace

absl::Status Repository::RestoreStream(const Manifest& manifest, const std::string& stream,
                                       io::ByteSink* sink) {
  const mdb_backup::v1::Stream* s = nullptr;
  for (const auto& candidate : manifest.streams()) {
    if (candidate.name() == stream) s = &candidate;
  }
  if (!s) {
    return absl::NotFoundError(
        absl::StrCat("backup '", manifest.backup_id(), "' has no stream '", stream, "'"));
  }
  auto ids = IdsOf(*s);
  if (!ids.ok()) {
    return common::WithContext(ids.status(),
                               absl::StrCat("restore of '", manifest.backup_id(), "'"));
  }
  std::deque<std::future<absl::StatusOr<std::string>>> window;
  int next = 0;
  absl::Status st;
  // What the stream carries: SHA-256 when written in format 1 (or reused from such a stream).
  const bool sha256 = !s->sha256().empty();
  StreamChecksum checksum(sha256 ? StreamChecksum::Kind::kSha256 : StreamChecksum::Kind::kXxh3_128);
  const std::string& recorded = sha256 ? s->sha256() : s->xxh3_128();
  uint64_t written = 0;
  while (st.ok() && (next < s->chunks_size() || !window.empty())) {
    while (next < s->chunks_size() && window.size() < kPrefetchWindow) {
      const size_t size = s->chunks(next).size();
      ChunkId id = ToId(s->chunks(next++).id());
      auto task = std::make_shared<std::packaged_task<absl::StatusOr<std::string>()>>(
          [this, id, ids = *ids,
           spare = sink->Spare(size)]() mutable -> absl::StatusOr<std::string> {
            // Committed by another process since this one read the index: FindFresh reads it.
            ASSIGN_OR_RETURN(Location loc, FindFresh(id));
            auto chunk = FetchChunk(id, ids, loc, std::move(spare));
            if (absl::IsDataLoss(chunk.status())) {
              // A GC of another process may have moved it to a new pack since. A store that
              // cannot be read now is that error, not the damage it may have hidden.
              RETURN_IF_ERROR(common::WithContext(RefreshIndex(), "reading the repository index"));
              auto moved = Find(id);
              if (moved && moved->pack_id != loc.pack_id) return FetchChunk(id, ids, *moved);
            }
            return chunk;
          });
      window.push_back(task->get_future());
      pool_->Submit([task] { (*task)(); });
    }
    auto chunk = window.front().get();
    window.pop_front();
    if (chunk.ok()) {
      checksum.Update(*chunk);
      written += chunk->size();
    }
    st = chunk.ok() ? sink->WriteOwned(*std::move(chunk)) : chunk.status();
  }
  for (auto& f : window) f.wait();  // no task may outlive this call's captures
  // Every chunk was checked against its id; this checks that they are all there and in order
  // (manifests of older versions carry no hash, only the size).
  if (st.ok() && written != s->size()) {
    st =
        absl::DataLossError(absl::StrCat("the chunks add up to ", written, " bytes, the stream to ",
                                         s->size(), ": the manifest is damaged"));
  } else if (st.ok() && !recorded.empty() && checksum.Finish() != recorded) {
    st = absl::DataLossError(absl::StrCat("the data does not match the stream's ",
                                          sha256 ? "SHA-256" : "XXH3-128",
                                          " recorded at backup: the manifest is damaged"));
  }
  if (!st.ok()) {
    return common::WithContext(
        st, absl::StrCat("restore of '", manifest.backup_id(), "' stream '", stream, "'"));
  }
  return sink->Close();
}

absl::StatusOr<VerifyReport> Repository::Verify(const std::vector<std::string>& backup_ids) {
  RETURN_IF_ERROR(RefreshIndex());  // what other processes committed (or GC moved) since Open
  VerifyReport report;
  std::vector<std::string> ids = backup_ids;
  if (ids.empty()) {
    ASSIGN_OR_RETURN(ids, ListBackups());
  }
  // Which backups need which chunk, grouped by pack. A chunk is checked as each stream that uses
  // it names it (its id, and what the id is of): a manifest that calls a chunk's id what it is
  // not is damaged, even when another names the same chunk rightly.
  using Named = std::pair<ChunkId, ChunkIds>;
  std::map<std::string, std::map<Named, Location>> by_pack;
  std::map<Named, std::set<std::string>> users;
  std::set<std::string> damaged;
  for (const auto& id : ids) {
    auto m = ReadManifest(id);
    // Listed, then deleted before it was read (a delete or retention beside this verify): gone,
    // not damaged. A backup asked for by name that is not there is reported.
    if (absl::IsNotFound(m.status()) && backup_ids.empty()) continue;
    if (!m.ok()) {
      report.problems.push_back(std::string(m.status().message()));
      // A newer format is not damage: this reader cannot check it (the message says so); nor
      // is a manifest too large for this host's memory.
      if (!absl::IsUnimplemented(m.status()) && !absl::IsResourceExhausted(m.status())) {
        damaged.insert(id);
      }
      continue;
    }
    ++report.backups_checked;
    for (const auto& s : m->streams()) {
      auto kind = IdsOf(s);
      if (!kind.ok()) {
        report.problems.push_back(absl::StrCat("backup '", id, "': ", kind.status().message()));
        damaged.insert(id);
        continue;
      }
      uint64_t sum = 0;
      for (const auto& c : s.chunks()) sum += c.size();
      if (sum != s.size()) {
        report.problems.push_back(absl::StrCat("backup '", id, "' stream '", s.name(),
                                               "': its chunks add up to ", sum, " bytes, not ",
                                               s.size()));
        damaged.insert(id);
      }
      for (const auto& c : s.chunks()) {
        ChunkId cid = ToId(c.id());
        auto loc = Find(cid);
        if (!loc) {
          report.problems.push_back(absl::StrCat("backup '", id, "' stream '", s.name(),
                                                 "': chunk ", ToHex(c.id()), " is not indexed"));
          damaged.insert(id);
          continue;
        }
        if (loc->size != c.size()) {  // a manifest whose sizes add up but are wrong
          report.problems.push_back(absl::StrCat("backup '", id, "' stream '", s.name(),
                                                 "': chunk ", ToHex(c.id()), " is ", loc->size,
                                                 " bytes, the manifest says ", c.size()));
          damaged.insert(id);
        }
        by_pack[loc->pack_id][{cid, *kind}] = *loc;
        users[{cid, *kind}].insert(id);
      }
    }
  }
  // One task per pack: read it whole, check its trailer and every needed chunk.
  std::mutex mu;
  // Whether none of `backups`' manifests exists any more (each deleted since it was read); each
  // asked of the store once.
  std::map<std::string, bool> gone;
  auto all_gone = [&](const std::set<std::string>& backups) {
    for (const auto& id : backups) {
      std::unique_lock<std::mutex> lock(mu);
      auto it = gone.find(id);
      if (it == gone.end()) {
        lock.unlock();
        const bool deleted = absl::IsNotFound(storage_->Stat("manifests/" + id).status());
        lock.lock();
        it = gone.emplace(id, deleted).first;
      }
      if (!it->second) return false;
    }
    return true;
  };
  common::TaskGroup group;
  for (const auto& [pack_id, chunks] : by_pack) {
    group.Add();
    pool_->Submit([&, pack_id = pack_id, chunks = chunks] {
      std::string key = PackKey(pack_id);
      auto pack = storage_->Get(key);
      std::vector<std::string> problems;
      std::set<Named> bad;
      uint64_t bytes = 0;
      if (absl::IsNotFound(pack.status()) && RefreshIndex().ok()) {
        // A GC (of the service, or another process) repacked or deleted it since the index was
        // read: each chunk is checked where the index says it is now. One that no index holds any
        // more is damage only while a backup using it still exists.
        for (const auto& [named, loc] : chunks) {
          const auto& [cid, kind] = named;
          auto moved = Find(cid);
          if (moved && moved->pack_id != pack_id) {
            auto plain = FetchChunk(cid, kind, *moved);
            if (plain.ok()) {
              bytes += plain->size();
              continue;
            }
            problems.push_back(absl::StrCat("chunk ", ToHex(cid), " moved from pack '", key,
                                            "': ", plain.status().message()));
          } else if (!moved && all_gone(users.find(named)->second)) {
            continue;
          } else {
            problems.push_back(absl::StrCat("pack '", key, "': ", pack.status().message()));
          }
          bad.insert(named);
        }
      } else if (!pack.ok()) {
        problems.push_back(absl::StrCat("pack '", key, "': ", pack.status().message()));
        for (const auto& [named, loc] : chunks) bad.insert(named);
      } else {
        auto trailer = ParsePackTrailer(*pack, pack_id, codec_);
        if (!trailer.ok()) {
          // The chunks may still decode, but a pack whose trailer is gone cannot be re-indexed
          // or repacked: every backup using it is at risk and is named.
          problems.push_back(absl::StrCat("pack '", key, "': ", trailer.status().message()));
          for (const auto& [named, loc] : chunks) bad.insert(named);
        }
        for (const auto& [named, loc] : chunks) {
          const auto& [cid, kind] = named;
          absl::StatusOr<std::string> plain = absl::DataLossError("outside the pack");
          if (loc.offset <= pack->size() && loc.stored_size <= pack->size() - loc.offset) {
            if (absl::Status size = CheckChunkSize(loc); !size.ok()) {
              plain = size;
            } else {
              plain = codec_.DecodeChunk(
                  std::string_view(*pack).substr(loc.offset, loc.stored_size), cid, kind, loc.size);
            }
          }
          if (!plain.ok()) {
            std::string_view role(reinterpret_cast<const char*>(cid.data()), cid.size());
            problems.push_back(absl::StrCat("pack '", key, "' chunk ", ToHex(role), ": ",
                                            plain.status().message()));
            bad.insert(named);
          } else {
            bytes += plain->size();
          }
        }
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        report.chunks_checked += chunks.size();
        report.bytes_checked += bytes;
        for (auto& p : problems) report.problems.push_back(std::move(p));
        for (const auto& named : bad) {
          const std::set<std::string>& of = users.find(named)->second;
          damaged.insert(of.begin(), of.end());
        }
      }
      // Last, after `mu` is released: once the count reaches zero, Verify returns and its locals
      // (mu, report, this group) are gone.
      group.Done();
    });
  }
  group.Wait();
  report.damaged.assign(damaged.begin(), damaged.end());
  return report;
}

}  // namespace mdb::repo
