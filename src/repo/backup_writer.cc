// The write pipeline. The stream's own thread reads and cuts chunks (one table lookup per byte
// for content-defined cuts, none at marks); the shared pool hashes, dedups, compresses, seals and
// packs them, and uploads full packs.
// The pool's bounded queue is the back-pressure: memory stays at about
// (queue + workers) x max chunk + the storage writers' buffers of the packs being written (1 MiB
// each on posix; the whole pack on drivers that keep it until Commit), whatever the database's
// size.
#include <deque>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/time_util.h"
#include "repo/pack.h"
#include "repo/repository.h"

namespace mdb::repo {

class BackupWriterImpl final : public BackupWriter {
 public:
  BackupWriterImpl(Repository* repo, WriterOptions options, std::string lock_key)
      : repo_(repo), options_(std::move(options)), lock_key_(std::move(lock_key)) {
    manifest_.set_backup_id(options_.backup_id);
    manifest_.set_parent_id(options_.parent_id);
    manifest_.set_engine(options_.engine);
    *manifest_.mutable_started_at() = common::ToProto(absl::Now());
  }

  ~BackupWriterImpl() override { Abort(); }

  void DropParent() override {
    std::lock_guard<std::mutex> lock(mu_);
    manifest_.clear_parent_id();
  }

  absl::Status AddStream(const std::string& name, io::ByteSource* source,
                         Chunking chunking) override {
    auto stream = std::make_shared<StreamState>();
    stream->name = name;
    stream->chunking = chunking == Chunking::kAtMarks ? mdb_backup::v1::CHUNKING_AT_MARKS
                                                      : mdb_backup::v1::CHUNKING_CONTENT_DEFINED;
    // A stream cut at marks is page-addressed, and its backups are page-level increments: a
    // chunk of it is new in nearly every backup that carries it, so it is compressed anyway, and
    // its id is taken of the frame (a twentieth of the bytes, typically). Content-defined streams
    // (RDB, BSON, tar) are where dedup across backups does the work: their ids are of the content,
    // so that a chunk already stored is neither compressed nor stored again.
    stream->ids = chunking == Chunking::kAtMarks ? ChunkIds::kOfFrame : ChunkIds::kOfContent;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return absl::FailedPreconditionError("the backup is already committed or aborted");
      for (const auto& s : streams_) {
        if (s->name == name)
          return absl::InvalidArgumentError(absl::StrCat("stream '", name, "' added twice"));
      }
      streams_.push_back(stream);
    }
    StreamChecksum checksum;
    RETURN_IF_ERROR(chunking == Chunking::kAtMarks
                        ? ReadAtMarks(source, stream.get(), &checksum)
                        : ReadContentDefined(source, stream.get(), &checksum));
    {
      std::lock_guard<std::mutex> lock(mu_);
      stream->xxh3_128 = checksum.Finish();
    }
    return FirstError();
  }

  absl::Status AddStreamFrom(const std::string& name, const Stream& committed) override {
    auto stream = std::make_shared<StreamState>();
    stream->name = name;
    stream->sha256 = committed.sha256();  // format 1's checksum, kept as it was
    stream->xxh3_128 = committed.xxh3_128();
    stream->chunking = committed.chunking();
    ASSIGN_OR_RETURN(stream->ids, IdsOf(committed));
    for (const auto& c : committed.chunks()) {
      ChunkRef& ref = stream->refs.emplace_back();
      if (c.id().size() != ref.id.size()) {
        return absl::DataLossError(absl::StrCat("stream '", committed.name(), "' is damaged"));
      }
      memcpy(ref.id.data(), c.id().data(), ref.id.size());
      ref.size = c.size();
      stream->size += c.size();
      // Checked now for a clear error; the write lock held until Commit keeps GC from removing
      // the chunk in between.
      if (!repo_->Find(ref.id)) {
        return absl::FailedPreconditionError(
            absl::StrCat("stream '", committed.name(),
                         "' cannot be reused: its data is no longer "
                         "in the repository"));
      }
    }
    bytes_read_ += stream->size;
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return absl::FailedPreconditionError("the backup is already committed or aborted");
    for (const auto& s : streams_) {
      if (s->name == name)
        return absl::InvalidArgumentError(absl::StrCat("stream '", name, "' added twice"));
    }
    streams_.push_back(std::move(stream));
    return absl::OkStatus();
  }

  absl::StatusOr<Manifest> Commit(const std::string& engine_metadata,
                                  const std::string& service_record) override {
    manifest_.set_service_record(service_record);
    tasks_.Wait();
    RETURN_IF_ERROR(FirstError());
    std::unique_ptr<PackBuilder> last;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return absl::FailedPreconditionError("the backup is already committed or aborted");
      done_ = true;
    }
    {
      std::lock_guard<std::mutex> lock(pack_mu_);
      if (pack_ && pack_->chunks() > 0) last = std::move(pack_);
    }
    absl::Status st = last ? Upload(std::move(last)) : absl::OkStatus();
    // The index goes before the manifest: a manifest must never name a chunk no index locates.
    std::string index_key;
    // Checked before the index object too: after a lapse, no index entry may point at packs a GC
    // elsewhere may have removed.
    if (st.ok()) st = repo_->locks_->CheckFresh(lock_key_);
    if (st.ok() && index_file_.packs_size() > 0) {
      index_key = absl::StrCat("index/", options_.backup_id);
      auto blob = repo_->codec_.Encode(index_file_.SerializeAsString(), index_key);
      st = blob.ok() ? repo_->storage_->Put(index_key, *blob) : blob.status();
    }
    if (st.ok()) st = FillManifest(engine_metadata);
    // Only while the lock has stayed fresh: a lock that could not be refreshed for the stale time
    // may have been taken for dead by a GC elsewhere, which may have removed this backup's packs.
    if (st.ok()) st = repo_->locks_->CheckFresh(lock_key_);
    const std::string manifest_key = "manifests/" + options_.backup_id;
    bool manifest_sent = false;
    if (st.ok()) {
      auto blob = repo_->codec_.Encode(manifest_.SerializeAsString(), manifest_key);
      manifest_sent = blob.ok();
      st = blob.ok() ? repo_->storage_->Put(manifest_key, *blob) : blob.status();
      // And once it has landed: a store call can outlast the lock (an S3 PUT retries for
      // minutes while the refreshes fail too), and a GC elsewhere that took the lock for dead
      // in between may have deleted the packs the manifest names.
      if (st.ok()) st = repo_->locks_->CheckFresh(lock_key_);
    }
    if (!st.ok() && repo_->locks_->LapsedSince(lock_key_)) {
      TakeBack(manifest_sent ? manifest_key : "", index_key);
    }
    repo_->ReleaseLock(lock_key_);
    if (!st.ok()) return st;
    repo_->Merge(local_, index_key);
    return manifest_;
  }

  // What a commit whose lock lapsed wrote: the manifest (a PUT that failed may have landed), so
  // that no backup is listed naming packs that may be gone; and the index object only when a
  // pack it names is gone (a backup elsewhere may have deduplicated against it since it landed:
  // deleting it would leave that backup's chunks in no index, garbage to the next GC). What
  // cannot be deleted is said: the next verify reports it.
  void TakeBack(const std::string& manifest_key, const std::string& index_key) {
    std::vector<std::string> keys;
    if (!manifest_key.empty()) keys.push_back(manifest_key);
    if (!index_key.empty()) {
      for (const auto& pack : index_file_.packs()) {
        if (absl::IsNotFound(repo_->storage_->Stat(PackKey(pack.pack_id())).status())) {
          keys.push_back(index_key);
          break;
        }
      }
    }
    for (const auto& key : keys) {
      absl::Status gone = repo_->storage_->Delete(key);
      if (!gone.ok() && !absl::IsNotFound(gone)) {
        common::Log(common::LogLevel::kError, "repo",
                    absl::StrCat("backup '", options_.backup_id, "' was not committed (its lock ",
                                 "lapsed), but its '", key, "' could not be deleted: ",
                                 gone.message(), "; delete it, then run verify"));
      }
    }
  }

  void Abort() override {
    tasks_.Wait();
    {
      std::lock_guard<std::mutex> lock(pack_mu_);
      pack_.reset();  // its temporary object goes now, before the lock is let go
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    repo_->ReleaseLock(lock_key_);
  }

  uint64_t bytes_read() const override { return bytes_read_.load(); }

 private:
  struct ChunkRef {
    ChunkId id{};
    uint32_t size = 0;
  };
  struct StreamState {
    std::string name;
    mdb_backup::v1::StreamChunking chunking = mdb_backup::v1::CHUNKING_CONTENT_DEFINED;
    uint64_t size = 0;
    std::string sha256;    // of the whole stream: format 1's checksum, when reused from one
    std::string xxh3_128;  // of the whole stream, once it has ended
    ChunkIds ids = ChunkIds::kOfContent;
    std::deque<ChunkRef> refs;
  };

  // A chunk's bytes, handed from the stream's reader to the pool without a copy (shared: the
  // pool's tasks are std::function, which must be copyable).
  struct ChunkBytes {
    std::shared_ptr<char[]> data;
    size_t size = 0;
  };

  static absl::Status ReadError(const absl::Status& st, const StreamState& stream) {
    return common::WithContext(st, absl::StrCat("reading stream '", stream.name, "'"));
  }

  // Cuts where the content says (chunker.h): a window of max_size bytes ahead of the cut point
  // is kept, so each chunk is copied out of it once.
  absl::Status ReadContentDefined(io::ByteSource* source, StreamState* stream,
                                  StreamChecksum* checksum) {
    const ChunkerParams& p = repo_->chunker_.params();
    // Not zero-filled: a small stream (a file list) then touches only the pages it reads into.
    const size_t capacity = static_cast<size_t>(p.max_size) * 2;
    auto buf = std::make_unique_for_overwrite<char[]>(capacity);
    size_t begin = 0, end = 0;
    bool eof = false;
    for (;;) {
      RETURN_IF_ERROR(FirstError());
      // Keep at least max_size bytes ahead of the cut point unless the source has ended.
      if (!eof && end - begin < p.max_size) {
        if (begin > 0) {
          memmove(buf.get(), buf.get() + begin, end - begin);
          end -= begin;
          begin = 0;
        }
        auto got = io::ReadFull(source, buf.get() + end, capacity - end);
        if (!got.ok()) return ReadError(got.status(), *stream);
        eof = *got < capacity - end;
        end += *got;
        bytes_read_ += *got;
      }
      if (begin == end) return absl::OkStatus();
      size_t cut = repo_->chunker_.FindCut(reinterpret_cast<const uint8_t*>(buf.get() + begin),
                                           end - begin, eof);
      if (cut == 0) continue;  // not reachable: we always hold max_size bytes or the end
      ChunkBytes chunk{std::make_shared_for_overwrite<char[]>(cut), cut};
      memcpy(chunk.data.get(), buf.get() + begin, cut);
      begin += cut;
      Submit(stream, checksum, std::move(chunk));
    }
  }

  // Cuts where the producer marked (io::ByteSource::TakeMark): at a kMay mark once a chunk has
  // min_size bytes, at every kMust mark, and at max_size: no scan of the content. A chunk is the
  // piece its producer handed over whole (io::ByteSource::TakePiece) where it can be, else read
  // into a buffer; either is copied once more only when more bytes come before its cut. For
  // page-addressed data the producer marks page groups (the Greenplum archive: every 128 pages of a
  // file, some files' records by a hash of their name, and the end of a large file's header), which
  // is where a change falls anyway.
  absl::Status ReadAtMarks(io::ByteSource* source, StreamState* stream, StreamChecksum* checksum) {
    const ChunkerParams& p = repo_->chunker_.params();
    // A chunk's buffer holds twice the average (a page group and what came before its mark), a
    // taken piece no more than that, and grows to max_size only past it: buffers of max_size
    // each, mostly unused, left the allocator's arenas fragmented (peak RSS up to 89 MB against
    // 72-79 in bench/greenplum).
    const size_t first = std::min<size_t>(2 * static_cast<size_t>(p.avg_size), p.max_size);
    ChunkBytes chunk;
    size_t capacity = 0;
    for (;;) {
      RETURN_IF_ERROR(FirstError());
      const io::Boundary mark = source->TakeMark();
      const bool cut = mark == io::Boundary::kMust ||
                       (mark == io::Boundary::kMay && chunk.size >= p.min_size) ||
                       chunk.size == p.max_size;
      if (chunk.size > 0 && cut) {
        Submit(stream, checksum, std::move(chunk));
        chunk = {};
      }
      if (!chunk.data) {
        // A piece the producer handed over whole (a page group, io::Pipe) becomes the chunk as
        // it is: no copy. Read into a buffer of our own otherwise.
        if (std::optional<std::string> piece = source->TakePiece(p.min_size, first)) {
          auto held = std::make_shared<std::string>(*std::move(piece));
          chunk = {std::shared_ptr<char[]>(held, held->data()), held->size()};
          capacity = chunk.size;
          bytes_read_ += chunk.size;
          continue;
        }
        chunk.data = std::make_shared_for_overwrite<char[]>(first);
        capacity = first;
      } else if (chunk.size == capacity) {  // below max_size: grown with one copy
        const size_t to = capacity < first ? first : p.max_size;
        auto grown = std::make_shared_for_overwrite<char[]>(to);
        memcpy(grown.get(), chunk.data.get(), chunk.size);
        chunk.data = std::move(grown);
        capacity = to;
      }
      auto got = source->Read(chunk.data.get() + chunk.size, capacity - chunk.size);
      if (!got.ok()) return ReadError(got.status(), *stream);
      bytes_read_ += *got;
      if (*got == 0) break;
      chunk.size += *got;
    }
    if (chunk.size > 0) Submit(stream, checksum, std::move(chunk));
    return absl::OkStatus();
  }

  // Hands a chunk of `stream` to the pool (blocking while its queue is full: the back-pressure).
  void Submit(StreamState* stream, StreamChecksum* checksum, ChunkBytes chunk) {
    std::string_view bytes(chunk.data.get(), chunk.size);
    checksum->Update(bytes);
    stream->size += chunk.size;
    ChunkRef* ref = &stream->refs.emplace_back();  // deque: the address stays valid
    ref->size = static_cast<uint32_t>(chunk.size);
    tasks_.Add();
    repo_->pool_->Submit([this, ref, ids = stream->ids, chunk = std::move(chunk)]() mutable {
      Process(ref, ids, std::string_view(chunk.data.get(), chunk.size));
      tasks_.Done();
    });
  }

  absl::Status FirstError() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

  void Fail(const absl::Status& st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) error_ = st;
  }

  // Runs on a pool worker.
  void Process(ChunkRef* ref, ChunkIds ids, std::string_view chunk) {
    absl::StatusOr<std::string> frame;
    if (ids == ChunkIds::kOfFrame) {
      frame = repo_->codec_.Compress(chunk);
      if (!frame.ok()) {
        Fail(frame.status());
        return;
      }
      ref->id = repo_->codec_.FrameId(*frame);
    } else {
      ref->id = repo_->codec_.Id(chunk);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_.ok() || done_) return;
      if (local_.count(ref->id) || pending_.count(ref->id)) return;  // stored by this backup
    }
    if (repo_->Find(ref->id)) return;  // stored by a committed backup: dedup
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!pending_.insert(ref->id).second) return;  // another worker is storing it right now
    }
    std::string_view role(reinterpret_cast<const char*>(ref->id.data()), ref->id.size());
    absl::StatusOr<std::string> blob = ids == ChunkIds::kOfFrame
                                           ? repo_->codec_.SealFrame(*std::move(frame), role)
                                           : repo_->codec_.EncodeChunk(chunk, role);
    if (!blob.ok()) {
      Fail(blob.status());
      return;
    }
    std::unique_ptr<PackBuilder> full;
    absl::Status st;
    {
      // The pack is written as it fills (a buffer, not the pack, in memory); started here, by
      // the first chunk that needs one, so that a failure to start it fails this backup. Under
      // its own mutex: its writes are disk I/O, which the dedup checks above need not wait for.
      std::lock_guard<std::mutex> lock(pack_mu_);
      if (!FirstError().ok()) return;  // a failed write spent the pack: nothing more goes in
      if (!pack_) {
        auto started = PackBuilder::Start(repo_->storage_, repo_->PackReserve());
        if (started.ok()) pack_ = std::move(*started);
        st = started.status();
      }
      if (st.ok()) st = pack_->Add(ref->id, *blob, ref->size);
      if (!st.ok()) {
        pack_.reset();  // its temporary object goes; the backup fails below
        Fail(st);       // before the next chunk takes pack_mu_
        return;
      }
      if (pack_->bytes() >= repo_->config_.pack_target_size()) full = std::move(pack_);
    }
    if (full) st = Upload(std::move(full));
    if (!st.ok()) Fail(st);
  }

  absl::Status Upload(std::unique_ptr<PackBuilder> pack) {
    RETURN_IF_ERROR(pack->Finish(repo_->codec_));
    const mdb_backup::v1::PackEntry& entry = pack->entry();
    std::lock_guard<std::mutex> lock(mu_);
    *index_file_.add_packs() = entry;
    added_bytes_ += pack->bytes();
    for (const auto& c : entry.chunks()) {
      ChunkId id;
      memcpy(id.data(), c.id().data(), id.size());
      local_[id] = {entry.pack_id(), c.offset(), c.stored_size(), c.size()};
      pending_.erase(id);
    }
    return absl::OkStatus();
  }

  absl::Status FillManifest(const std::string& engine_metadata) {
    manifest_.set_engine_metadata(engine_metadata);
    *manifest_.mutable_created_at() = common::ToProto(absl::Now());
    std::set<ChunkId> counted, journal_counted;
    uint64_t logical = 0, stored = 0, journal = 0;
    std::lock_guard<std::mutex> lock(mu_);
    // Format 3 only where it is needed: a reader of format 2 (an older instance sharing the
    // repository) still reads, restores and collects garbage around every other backup.
    manifest_.set_format_version(kManifestFormatBeforeFrameIds);
    for (const auto& s : streams_) {
      if (s->ids == ChunkIds::kOfFrame) manifest_.set_format_version(kManifestFormat);
      auto* out = manifest_.add_streams();
      out->set_name(s->name);
      out->set_size(s->size);
      out->set_sha256(s->sha256);
      out->set_xxh3_128(s->xxh3_128);
      out->set_chunking(s->chunking);
      out->set_chunk_ids(s->ids == ChunkIds::kOfFrame ? mdb_backup::v1::CHUNK_IDS_OF_FRAME
                                                      : mdb_backup::v1::CHUNK_IDS_OF_CONTENT);
      logical += s->size;
      const bool is_journal = s->name.rfind("journal/", 0) == 0;
      for (const auto& r : s->refs) {
        auto* c = out->add_chunks();
        c->set_id(std::string(reinterpret_cast<const char*>(r.id.data()), r.id.size()));
        c->set_size(r.size);
        const bool first = counted.insert(r.id).second;
        const bool first_in_journal = is_journal && journal_counted.insert(r.id).second;
        if (!first && !first_in_journal) continue;
        auto it = local_.find(r.id);
        std::optional<Repository::Location> loc;
        if (it != local_.end())
          loc = it->second;
        else
          loc = repo_->Find(r.id);
        if (!loc) {
          return absl::InternalError(absl::StrCat("stream '", s->name,
                                                  "': a chunk was neither "
                                                  "stored nor found in the repository"));
        }
        if (first) stored += loc->stored_size;
        if (first_in_journal) journal += loc->stored_size;
      }
    }
    manifest_.set_logical_bytes(logical);
    manifest_.set_stored_bytes(stored);
    manifest_.set_added_bytes(added_bytes_);
    manifest_.set_journal_bytes(journal);
    return absl::OkStatus();
  }

  Repository* repo_;
  WriterOptions options_;
  std::string lock_key_;
  common::TaskGroup tasks_;
  std::atomic<uint64_t> bytes_read_{0};
  // Taken before mu_ when both are needed (Process), never after it.
  std::mutex pack_mu_;
  std::unique_ptr<PackBuilder> pack_;  // guarded by pack_mu_
  std::mutex mu_;                      // guards everything below
  absl::Status error_;
  bool done_ = false;
  std::vector<std::shared_ptr<StreamState>> streams_;
  std::set<ChunkId> pending_;
  Repository::Index local_;
  mdb_backup::v1::IndexFile index_file_;
  uint64_t added_bytes_ = 0;
  Manifest manifest_;
};

absl::StatusOr<std::unique_ptr<BackupWriter>> Repository::StartBackup(const WriterOptions& o) {
  RETURN_IF_ERROR(storage::ValidateKey(o.backup_id));
  if (storage_->Stat("manifests/" + o.backup_id).ok()) {
    return absl::AlreadyExistsError(absl::StrCat("backup '", o.backup_id, "' already exists"));
  }
  ASSIGN_OR_RETURN(std::string lock, TakeLock("write", o.backup_id));
  // Under the write lock no GC runs until Commit: the index read now stays true for the whole
  // backup, so nothing is deduplicated against a chunk a GC of another process (an instance
  // sharing the repository) has removed since this one last read the index.
  if (absl::Status st = RefreshIndex(); !st.ok()) {
    ReleaseLock(lock);
    return st;
  }
  return std::make_unique<BackupWriterImpl>(this, o, std::move(lock));
}

}  // namespace mdb::repo
