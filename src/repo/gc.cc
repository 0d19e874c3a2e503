// Garbage collection under the exclusive lock: no backup is being written, so every pack that no
// index entry of a live manifest points to is garbage, including packs of crashed writers that
// never reached an index. Order of steps (each safe to crash after):
//   1. write one new index object with the entries of the packs that stay,
//   2. delete the old index objects (their entries are in the new one or are garbage),
//   3. delete the garbage packs (a crash here leaves packs in no index: garbage next time).
// Packs that mix live and dead chunks are repacked when at least kRepackDeadFraction of their
// bytes are dead: the live blobs are copied verbatim into new packs (a blob is bound to its chunk
// id, not to its pack), uploaded before step 1, and the old packs join the garbage. Without this,
// deleting a backup whose chunks share packs with kept backups would free nothing.
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status.h"
#include "repo/pack.h"
#include "repo/repository.h"

namespace mdb::repo {
namespace {

constexpr double kRepackDeadFraction = 0.1;

}  // namespace

absl::StatusOr<GcReport> Repository::Gc(const GcOptions& options) {
  ASSIGN_OR_RETURN(std::string lock, TakeLock("gc", "gc"));
  GcReport report;
  absl::Status st = [&]() -> absl::Status {
    // What live backups reference.
    std::set<ChunkId> referenced;
    ASSIGN_OR_RETURN(auto ids, ListBackups());
    report.backups = static_cast<int>(ids.size());
    for (const auto& id : ids) {
      absl::StatusOr<Manifest> read = ReadManifest(id);
      // Deleted since it was listed (a delete or a retention pass beside this GC, which need no
      // lock of GC's): its chunks are garbage like those of backups deleted before.
      if (absl::IsNotFound(read.status())) {
        --report.backups;
        continue;
      }
      if (absl::IsDataLoss(read.status())) {
        return common::WithDetail(
            read.status(),
            absl::StrCat("GC frees nothing while it cannot tell which chunks backup '", id,
                         "' uses: put the object back, or delete that backup"));
      }
      RETURN_IF_ERROR(read.status());
      const Manifest& m = *read;
      report.logical_bytes += m.logical_bytes();
      for (const auto& s : m.streams()) {
        for (const auto& c : s.chunks()) {
          ChunkId cid;
          memcpy(cid.data(), c.id().data(), cid.size());
          referenced.insert(cid);
        }
      }
    }
    // Where chunks are, from storage (other processes may have committed since we loaded).
    Index index;
    std::vector<std::string> old_index_keys;
    RETURN_IF_ERROR(ReadIndexObjects(&index, &old_index_keys));
    std::map<std::string, std::vector<std::pair<ChunkId, Location>>> packs;
    for (const auto& [id, loc] : index) packs[loc.pack_id].push_back({id, loc});
    std::set<std::string> live_packs;
    mdb_backup::v1::IndexFile kept;
    std::unique_ptr<PackBuilder> repack;  // started by the first chunk moved into it
    auto flush_repack = [&]() -> absl::Status {
      if (!repack || repack->chunks() == 0) return absl::OkStatus();
      RETURN_IF_ERROR(repack->Finish(codec_));
      *kept.add_packs() = repack->entry();
      live_packs.insert(PackKey(repack->id()));
      report.bytes_freed -= repack->bytes();  // the old packs' sizes are added when deleted
      repack.reset();
      return absl::OkStatus();
    };
    for (const auto& [pack_id, chunks] : packs) {
      uint64_t live_bytes = 0, dead_bytes = 0;
      for (const auto& [id, loc] : chunks) {
        (referenced.count(id) ? live_bytes : dead_bytes) += loc.stored_size;
      }
      if (live_bytes == 0) continue;
      if (dead_bytes >= kRepackDeadFraction * (live_bytes + dead_bytes)) {
        ASSIGN_OR_RETURN(std::string old, storage_->Get(PackKey(pack_id)));
        for (const auto& [id, loc] : chunks) {
          if (!referenced.count(id)) continue;
          if (loc.offset > old.size() || loc.stored_size > old.size() - loc.offset) {
            return absl::DataLossError(
                absl::StrCat("pack '", PackKey(pack_id), "' is truncated; run verify"));
          }
          if (!repack) {
            ASSIGN_OR_RETURN(repack, PackBuilder::Start(storage_, PackReserve()));
          }
          RETURN_IF_ERROR(
              repack->Add(id, std::string_view(old).substr(loc.offset, loc.stored_size), loc.size));
          if (repack->bytes() >= config_.pack_target_size()) RETURN_IF_ERROR(flush_repack());
        }
        ++report.packs_repacked;
        continue;  // the old pack is garbage now
      }
      live_packs.insert(PackKey(pack_id));
      auto* entry = kept.add_packs();
      entry->set_pack_id(pack_id);
      for (const auto& [id, loc] : chunks) {
        auto* c = entry->add_chunks();
        c->set_id(std::string(reinterpret_cast<const char*>(id.data()), id.size()));
        c->set_offset(loc.offset);
        c->set_stored_size(loc.stored_size);
        c->set_size(loc.size);
        if (!referenced.count(id)) report.unreferenced_bytes_kept += loc.stored_size;
      }
    }
    RETURN_IF_ERROR(flush_repack());
    report.packs_kept = static_cast<int>(live_packs.size());
    ASSIGN_OR_RETURN(auto stored_packs, storage_->List("packs/"));
    std::vector<storage::ObjectInfo> garbage;
    for (const auto& p : stored_packs) {
      if (!live_packs.count(p.key)) {
        garbage.push_back(p);
      } else {
        report.stored_bytes += p.size;
      }
    }
    report.chunks = referenced.size();
    bool index_changes = !garbage.empty() || old_index_keys.size() > 1;
    // Past here GC deletes. Its lock must have stayed fresh all along: one that lapsed (the
    // store refused its refreshes) may have let a backup start, whose new packs are in no index.
    RETURN_IF_ERROR(locks_->CheckFresh(lock));
    if (index_changes) {
      std::string key = absl::StrCat("index/gc-", common::NewId());
      ASSIGN_OR_RETURN(std::string blob, codec_.Encode(kept.SerializeAsString(), key));
      RETURN_IF_ERROR(storage_->Put(key, blob));
      for (const auto& k : old_index_keys) {
        // The PUT can outlast the lock: once lapsed, a backup may have started beside this GC
        // and deduplicated against entries only the old objects hold.
        RETURN_IF_ERROR(locks_->CheckFresh(lock));
        RETURN_IF_ERROR(storage_->Delete(k));
      }
    }
    for (const auto& p : garbage) {
      RETURN_IF_ERROR(locks_->CheckFresh(lock));  // a long run of deletes: checked before each
      RETURN_IF_ERROR(storage_->Delete(p.key));
      ++report.packs_deleted;
      report.bytes_freed += p.size;
    }
    // Verifications of backups deleted meanwhile (their delete stopped after the manifest).
    const std::set<std::string> live(ids.begin(), ids.end());
    ASSIGN_OR_RETURN(auto verifications, storage_->List(kVerifications));
    for (const auto& v : verifications) {
      if (live.count(v.key.substr(sizeof(kVerifications) - 1))) continue;
      absl::Status gone = storage_->Delete(v.key);
      if (!gone.ok() && !absl::IsNotFound(gone)) return gone;
    }
    ASSIGN_OR_RETURN(report.incomplete_removed,
                     storage_->RemoveIncomplete(options.incomplete_older_than));
    return LoadIndex();
  }();
  ReleaseLock(lock);
  if (!st.ok()) return st;
  return report;
}

}  // namespace mdb::repo
