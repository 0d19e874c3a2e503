// Repository setup, the chunk index, locks and the small operations. The index in memory is the
// union of the index objects in storage plus what this process committed since; chunks of
// backups still being written are never in it, so no backup can depend on uncommitted data.
#include "repo/repository.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/time_util.h"
#include "google/protobuf/util/json_util.h"
#include "repo/pack.h"

namespace mdb::repo {
namespace {

constexpr char kConfigKey[] = "config";

// What the sealed keys are bound to: every setting of the config that shapes how data is
// written or read. Changing one of them in an encrypted repository's config (the JSON is not
// encrypted) makes the keys fail to open, instead of silently changing the chunker or the codec.
std::string ConfigRole(const mdb_backup::v1::RepoConfig& c) {
  return absl::StrCat("config/keys/v2 ", c.format_version(), " ", c.repo_id(), " ",
                      c.chunk_min_size(), " ", c.chunk_avg_size(), " ", c.chunk_max_size(), " ",
                      c.zstd_level(), " ", c.pack_target_size(), " ", c.encryption());
}

absl::Status CheckSettings(uint32_t min, uint32_t avg, uint32_t max, int zstd_level,
                           uint64_t pack_target) {
  if (avg == 0 || (avg & (avg - 1)) != 0 || min >= avg || avg >= max ||
      max > Repository::kLargestChunk) {
    return absl::InvalidArgumentError(
        "chunk sizes must satisfy min < avg < max <= 64 MiB with avg a power of two");
  }
  if (zstd_level < 1 || zstd_level > 19)
    return absl::InvalidArgumentError("zstd level must be 1..19");
  if (pack_target < (64u << 10) || pack_target > (1u << 30)) {
    return absl::InvalidArgumentError("the pack target size must be 64 KiB..1 GiB");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  // Checked on the open descriptor: what is read is what was checked. Bounded: a key file is tiny,
  // and /dev/zero or a log file given by mistake must not be read whole.
  // O_NONBLOCK: a FIFO given by mistake must not hang the start (it is refused below).
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    std::string msg = absl::StrCat("cannot read key file '", path, "': ", strerror(errno));
    return errno == EACCES ? absl::PermissionDeniedError(msg) : absl::NotFoundError(msg);
  }
  struct stat st {};
  std::string raw(67, '\0');
  ssize_t n = -1;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0 && st.st_size <= 66) {
    n = read(fd, raw.data(), raw.size());
  }
  close(fd);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("key file '", path, "' is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "key file '%s' can be read by group or others (mode %04o); the key opens every backup: "
        "chmod 600 '%s'",
        path, st.st_mode & 07777, path));
  }
  auto malformed = [&path] {
    return absl::InvalidArgumentError(
        absl::StrCat("key file '", path,
                     "' must hold 32 raw bytes or 64 hex digits; make one with: (umask 077; "
                     "head -c 32 /dev/urandom > ",
                     path, ")"));
  };
  if (n < 0 || st.st_size > 66) return malformed();
  raw.resize(static_cast<size_t>(n));
  if (raw.size() == 32) return raw;
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) raw.pop_back();
  if (raw.size() == 64) {
    std::string key(32, '\0');
    size_t bin_len = 0;
    if (sodium_hex2bin(reinterpret_cast<unsigned char*>(key.data()), 32, raw.data(), 64, nullptr,
                       &bin_len, nullptr) == 0 &&
        bin_len == 32) {
      return key;
    }
  }
  return malformed();
}

Repository::Repository(storage::Storage* storage, mdb_backup::v1::RepoConfig config, Keys keys,
                       int threads)
    : storage_(storage),
      config_(std::move(config)),
      codec_(std::move(keys), config_.zstd_level()),
      chunker_({.min_size = config_.chunk_min_size(),
                .avg_size = config_.chunk_avg_size(),
                .max_size = config_.chunk_max_size()}),
      pool_(std::make_unique<common::ThreadPool>(threads, threads + 1)),
      journal_(NewJournalStore(storage, &codec_)),
      locks_(std::make_unique<LockKeeper>(storage)) {}

Repository::~Repository() = default;

absl::StatusOr<std::unique_ptr<Repository>> Repository::Init(storage::Storage* storage,
                                                             const InitOptions& o) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialize");
  if (storage->Stat(kConfigKey).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("a repository already exists at ", storage->Describe()));
  }
  const auto& c = o.chunker;
  RETURN_IF_ERROR(
      CheckSettings(c.min_size, c.avg_size, c.max_size, o.zstd_level, o.pack_target_size));
  mdb_backup::v1::RepoConfig cfg;
  cfg.set_format_version(1);
  cfg.set_repo_id(common::NewId());
  *cfg.mutable_created_at() = common::ToProto(absl::Now());
  cfg.set_chunk_min_size(c.min_size);
  cfg.set_chunk_avg_size(c.avg_size);
  cfg.set_chunk_max_size(c.max_size);
  cfg.set_zstd_level(o.zstd_level);
  cfg.set_pack_target_size(o.pack_target_size);
  Keys keys;
  keys.chunk_id_key.resize(32);
  common::RandomBytes(keys.chunk_id_key.data(), 32);
  if (o.key) {
    if (o.key->size() != 32) return absl::InvalidArgumentError("the key must be 32 bytes");
    keys.data_key = std::string(32, '\0');
    common::RandomBytes(keys.data_key->data(), 32);
    cfg.set_encryption("xchacha20poly1305");
    cfg.set_sealed_keys(Seal(*keys.data_key + keys.chunk_id_key, *o.key, ConfigRole(cfg)));
  } else {
    cfg.set_encryption("none");
    cfg.set_chunk_id_key(keys.chunk_id_key);
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions jo;
  jo.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(cfg, &json, jo);
  RETURN_IF_ERROR(storage->Put(kConfigKey, json));
  return std::unique_ptr<Repository>(new Repository(storage, std::move(cfg), std::move(keys), 2));
}

absl::StatusOr<std::unique_ptr<Repository>> Repository::Open(storage::Storage* storage,
                                                             const OpenOptions& o) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialize");
  auto json = storage->Get(kConfigKey);
  if (absl::IsNotFound(json.status())) {
    return absl::FailedPreconditionError(absl::StrCat("no repository at ", storage->Describe(),
                                                      "; create one with 'mdb-backup repo init'"));
  }
  if (!json.ok()) return json.status();
  mdb_backup::v1::RepoConfig cfg;
  if (!google::protobuf::util::JsonStringToMessage(*json, &cfg).ok() || cfg.format_version() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the repository config at ", storage->Describe(), " is damaged or of an unknown version"));
  }
  if (absl::Status st =
          CheckSettings(cfg.chunk_min_size(), cfg.chunk_avg_size(), cfg.chunk_max_size(),
                        cfg.zstd_level(), cfg.pack_target_size());
      !st.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the repository config at ", storage->Describe(), " is damaged: ", st.message()));
  }
  Keys keys;
  if (cfg.encryption() == "none") {
    if (o.key) {
      // Ignoring the key would store every new backup in plain text while the operator believes
      // they are encrypted.
      return absl::FailedPreconditionError(absl::StrCat(
          "the repository at ", storage->Describe(),
          " is not encrypted, but a key was given: backups would be stored unencrypted; remove "
          "the key setting (repository_key_file, --key-file), or start a new repository with "
          "init --key-file"));
    }
    keys.chunk_id_key = cfg.chunk_id_key();
  } else {
    if (!o.key) {
      return absl::PermissionDeniedError(absl::StrCat("the repository at ", storage->Describe(),
                                                      " is encrypted: give its key file"));
    }
    auto opened = repo::Open(cfg.sealed_keys(), *o.key, ConfigRole(cfg));
    // Repositories made before the keys were bound to the settings: readable as before.
    if (!opened.ok()) opened = repo::Open(cfg.sealed_keys(), *o.key, "config/keys");
    if (!opened.ok() || opened->size() != 64) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the key does not open the repository at ", storage->Describe(),
          " (wrong key file, or its config was changed); nothing was read or changed"));
    }
    keys.data_key = opened->substr(0, 32);
    keys.chunk_id_key = opened->substr(32);
  }
  std::unique_ptr<Repository> repo(
      new Repository(storage, std::move(cfg), std::move(keys), std::max(1, o.threads)));
  RETURN_IF_ERROR(repo->LoadIndex());
  return repo;
}

absl::Status Repository::ReadIndexObjects(Index* out, std::vector<std::string>* keys) {
  ASSIGN_OR_RETURN(auto objects, storage_->List("index/"));
  std::vector<std::string> all;
  for (const auto& obj : objects) all.push_back(obj.key);
  return ReadIndexKeys(all, out, keys);
}

absl::Status Repository::ReadIndexKeys(const std::vector<std::string>& objects, Index* out,
                                       std::vector<std::string>* keys) {
  for (const auto& key : objects) {
    auto blob = storage_->Get(key);
    if (absl::IsNotFound(blob.status())) continue;  // replaced by a concurrent GC
    if (!blob.ok()) return blob.status();
    ASSIGN_OR_RETURN(std::string plain, codec_.Decode(*blob, key));
    mdb_backup::v1::IndexFile file;
    if (!file.ParseFromString(plain)) {
      return absl::DataLossError(absl::StrCat("index object '", key, "' is damaged"));
    }
    for (const auto& pack : file.packs()) {
      for (const auto& c : pack.chunks()) {
        ChunkId id;
        if (c.id().size() != id.size()) return absl::DataLossError("index: bad chunk id");
        memcpy(id.data(), c.id().data(), id.size());
        (*out)[id] = {pack.pack_id(), c.offset(), c.stored_size(), c.size()};
      }
    }
    if (keys) keys->push_back(key);
  }
  return absl::OkStatus();
}

absl::Status Repository::LoadIndex() { return RefreshIndex(/*full=*/true); }

absl::Status Repository::RefreshIndex(bool full) {
  // Another process (an instance sharing the repository, or the CLI) commits backups and runs
  // GC: what it indexed is read here, and when a GC has replaced index objects (some this
  // process read are gone) everything is read again, as chunks may have moved or gone.
  std::lock_guard<std::mutex> refresh(refresh_mu_);
  ASSIGN_OR_RETURN(auto objects, storage_->List("index/"));
  std::set<std::string> listed;
  for (const auto& obj : objects) listed.insert(obj.key);
  std::vector<std::string> unread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& key : index_keys_) {
      if (!listed.count(key)) full = true;
    }
    for (const auto& key : listed) {
      if (full || !index_keys_.count(key)) unread.push_back(key);
    }
  }
  Index fresh;
  std::vector<std::string> read;
  RETURN_IF_ERROR(ReadIndexKeys(unread, &fresh, &read));
  std::lock_guard<std::mutex> lock(mu_);
  if (full) {
    // Exactly what the store indexes now. A backup this process committed after the listing
    // drops out until the next refresh reads its index object: a miss costs a refresh (or a
    // chunk stored twice), while keeping an entry a GC elsewhere removed would let a backup
    // refer to a chunk that is gone.
    index_ = std::move(fresh);
    index_keys_.clear();
  } else {
    for (const auto& [id, loc] : fresh) index_.emplace(id, loc);
  }
  index_keys_.insert(read.begin(), read.end());
  return absl::OkStatus();
}

std::optional<Repository::Location> Repository::Find(const ChunkId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<Repository::Location> Repository::FindFresh(const ChunkId& id) {
  if (auto loc = Find(id)) return *loc;
  RETURN_IF_ERROR(common::WithContext(RefreshIndex(), "reading the repository index"));
  if (auto loc = Find(id)) return *loc;
  return absl::DataLossError(absl::StrCat("chunk ", ToHex(id), " is not in the repository index"));
}

void Repository::Merge(const Index& committed, const std::string& index_key) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, loc] : committed) index_.emplace(id, loc);
  if (!index_key.empty()) index_keys_.insert(index_key);
}

absl::Status Repository::CheckChunkSize(const Location& loc) {
  if (loc.size <= kLargestChunk) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("the index says it holds ", loc.size,
                                          " bytes; no chunk holds more than ", kLargestChunk));
}

absl::StatusOr<std::string> Repository::FetchChunk(const ChunkId& id, ChunkIds ids,
                                                   const Location& loc, std::string buffer) {
  std::string key = PackKey(loc.pack_id);
  if (absl::Status size = CheckChunkSize(loc); !size.ok()) {
    std::string hex = ToHex(id);
    return common::WithContext(size, absl::StrCat("chunk ", hex, " in pack '", key, "'"));
  }
  auto blob = storage_->GetRange(key, loc.offset, loc.stored_size);
  if (!blob.ok()) {
    std::string hex = ToHex(id);
    if (absl::IsNotFound(blob.status()) || absl::IsOutOfRange(blob.status())) {
      return absl::DataLossError(absl::StrCat("chunk ", hex, ": pack '", key,
                                              "' is missing or "
                                              "truncated"));
    }
    return blob.status();
  }
  auto plain = codec_.DecodeChunk(*blob, id, ids, loc.size, std::move(buffer));
  if (!plain.ok()) {
    std::string_view role(reinterpret_cast<const char*>(id.data()), id.size());
    return common::WithContext(plain.status(),
                               absl::StrCat("chunk ", ToHex(role), " in pack '", key, "'"));
  }
  return plain;
}

absl::StatusOr<ChunkIds> IdsOf(const Stream& stream) {
  switch (stream.chunk_ids()) {
    case mdb_backup::v1::CHUNK_IDS_OF_CONTENT:
      return ChunkIds::kOfContent;
    case mdb_backup::v1::CHUNK_IDS_OF_FRAME:
      return ChunkIds::kOfFrame;
    default:
      return absl::DataLossError(absl::StrCat(
          "stream '", stream.name(), "': chunk ids of kind ", static_cast<int>(stream.chunk_ids()),
          ", which no writer of format ", kManifestFormat, " sets: the manifest is damaged"));
  }
}

absl::StatusOr<std::vector<std::string>> Repository::ListBackups() {
  ASSIGN_OR_RETURN(auto objects, storage_->List("manifests/"));
  std::vector<std::string> ids;
  for (const auto& o : objects) ids.push_back(o.key.substr(strlen("manifests/")));
  return ids;
}

absl::StatusOr<Manifest> Repository::ReadManifest(const std::string& backup_id) {
  RETURN_IF_ERROR(storage::ValidateKey(backup_id));
  std::string key = "manifests/" + backup_id;
  auto blob = storage_->Get(key);
  if (absl::IsNotFound(blob.status())) {
    return absl::NotFoundError(absl::StrCat("backup '", backup_id, "' is not in the repository"));
  }
  if (!blob.ok()) return blob.status();
  ASSIGN_OR_RETURN(std::string plain, codec_.Decode(*blob, key));
  Manifest m;
  if (!m.ParseFromString(plain) || m.backup_id() != backup_id) {
    return absl::DataLossError(absl::StrCat("manifest of backup '", backup_id, "' is damaged"));
  }
  // Refused, not half-read: a newer writer may record what this reader would restore wrongly,
  // and GC stops here too rather than free chunks it cannot see are used. Unimplemented, a code
  // no storage error maps to: Verify tells it from damage by the code.
  if (m.format_version() > kManifestFormat) {
    return absl::UnimplementedError(
        absl::StrCat("backup '", backup_id, "' was written in repository format ",
                     m.format_version(), " by a newer mdb-backup; this one reads formats 1 to ",
                     kManifestFormat, ": upgrade mdb-backup"));
  }
  return m;
}

// Whether the backup's manifest exists and is of this format: one too large for this host's
// memory (ResourceExhausted) exists, and may be deleted or verified.
absl::Status Repository::CheckManifest(const std::string& backup_id) {
  absl::Status read = ReadManifest(backup_id).status();
  return absl::IsResourceExhausted(read) ? absl::OkStatus() : read;
}

absl::Status Repository::DeleteBackup(const std::string& backup_id) {
  // A damaged manifest may be deleted too: GC stops at it (it cannot tell which chunks it
  // names), and deleting that backup is how an operator lets GC free space again.
  if (absl::Status exists = CheckManifest(backup_id); !exists.ok() && !absl::IsDataLoss(exists)) {
    return exists;
  }
  RETURN_IF_ERROR(storage_->Delete("manifests/" + backup_id));
  // The backup is gone with its manifest; a verification left by a failure here is the GC's.
  (void)storage_->Delete(kVerifications + backup_id);
  return absl::OkStatus();
}

absl::Status Repository::PutVerification(const std::string& backup_id, std::string_view record) {
  // Only for a backup that exists (one deleted between this check and the Put leaves an orphan
  // the next GC removes). Encoded like a manifest: sealed to its key when encrypted.
  RETURN_IF_ERROR(CheckManifest(backup_id));
  if (record.size() > kMaxVerificationBytes) {
    return absl::InvalidArgumentError("a verification record is at most 1 MiB");
  }
  const std::string key = kVerifications + backup_id;
  ASSIGN_OR_RETURN(std::string blob, codec_.Encode(record, key));
  return storage_->Put(key, blob);
}

absl::StatusOr<std::string> Repository::ReadVerification(const std::string& backup_id) {
  RETURN_IF_ERROR(storage::ValidateKey(backup_id));
  const std::string key = kVerifications + backup_id;
  auto blob = storage_->Get(key);
  if (absl::IsNotFound(blob.status())) {
    return absl::NotFoundError(absl::StrCat("backup '", backup_id, "' has no verification"));
  }
  if (!blob.ok()) return blob.status();
  return codec_.Decode(*blob, key, 0, kMaxVerificationBytes);
}

absl::Status Repository::Probe() {
  absl::StatusOr<storage::ObjectInfo> config = storage_->Stat(kConfigKey);
  return config.ok() ? absl::OkStatus() : config.status();
}

absl::StatusOr<RepoStats> Repository::Stats() {
  RepoStats s;
  ASSIGN_OR_RETURN(auto packs, storage_->List("packs/"));
  s.packs = static_cast<int>(packs.size());
  for (const auto& p : packs) s.stored_bytes += p.size;
  ASSIGN_OR_RETURN(JournalStore::Totals journal, this->journal().Total());
  s.journal_pieces = journal.pieces;
  s.journal_bytes = journal.stored_bytes;
  ASSIGN_OR_RETURN(auto ids, ListBackups());
  s.backups = static_cast<int>(ids.size());
  for (const auto& id : ids) {
    auto m = ReadManifest(id);
    if (m.ok()) s.logical_bytes += m->logical_bytes();
  }
  std::lock_guard<std::mutex> lock(mu_);
  s.chunks = index_.size();
  return s;
}

}  // namespace mdb::repo
