// The repository's locks (docs/format.md "Locks"): a writer's shared `write` lock and GC's
// exclusive `gc` lock. Every doubt counts against GC: a lock that cannot be read, or that is
// damaged, is taken as live, since taking a live backup's lock for dead lets GC delete the packs
// it has written and not yet indexed, and that backup then commits with data missing.
// And the marks of restores (`read`) and deletes (`delete`) of named backups, which keep out of
// each other's way only: GC neither waits for them nor they for GC (it removes dead ones).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "common/time_util.h"
#include "google/protobuf/util/json_util.h"
#include "repo/repository.h"

namespace mdb::repo {
namespace {

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

// Where a pid means this process: this boot of this machine and this pid namespace. Two
// containers may share a host name (host networking) and two machines may too; a pid is only
// looked up in the scope it was written in. "" when /proc cannot tell.
std::string PidScope() {
  std::string boot;
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::getline(in, boot);
  char ns[64] = {};
  ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
  if (boot.empty() || n <= 0) return "";
  return absl::StrCat(boot, "/", std::string(ns, n));
}

// The lock's `host`: the host name people read in messages, then "/" and the pid scope. A host
// name has no "/", and a lock written before the scope (host name alone), or by a process of
// another scope, never matches: its pid is not looked up, and it lives until it goes stale.
const std::string& LockHost() {
  static const std::string host = [] {
    std::string scope = PidScope();
    return scope.empty() ? Hostname() : absl::StrCat(Hostname(), "/", scope);
  }();
  return host;
}

absl::string_view ShownHost(absl::string_view host) { return host.substr(0, host.find('/')); }

// A lock is live unless it was not refreshed for the stale time (its holder refreshes it every
// minute: lock_keeper.h), or its process is known dead (this pid scope, no such pid): a writer
// killed with -9 must not block GC for long.
bool IsMark(absl::string_view key) {
  return absl::StartsWith(key, "locks/read-") || absl::StartsWith(key, "locks/delete-");
}

// Whether the mark's `what` (backup ids joined by ',': ids have no ',') names `backup_id`.
bool Names(absl::string_view what, absl::string_view backup_id) {
  for (absl::string_view id : absl::StrSplit(what, ',')) {
    if (id == backup_id) return true;
  }
  return false;
}

bool LockIsLive(const mdb_backup::v1::Lock& lock) {
  if (absl::Now() - common::FromProto(lock.refreshed_at()) > CurrentLockTiming().stale) {
    return false;
  }
  if (absl::StrContains(LockHost(), "/") && lock.host() == LockHost() && lock.pid() > 0 &&
      kill(static_cast<pid_t>(lock.pid()), 0) != 0 && errno == ESRCH) {
    return false;
  }
  return true;
}

// Dated further ahead than any clock may be (hosts keep within minutes; a holder refreshes
// with its own time): planted, to keep restores (a delete mark), deletes (a read mark) or
// backups (a gc lock) out for good. Such a mark or gc lock counts for nothing and GC removes it
// (with a warning: an honest host whose clock ran that far ahead writes it again). A planted
// write lock still holds GC off: every doubt counts against GC.
bool Planted(const mdb_backup::v1::Lock& lock) {
  return common::FromProto(lock.refreshed_at()) - absl::Now() > CurrentLockTiming().stale;
}

bool MarkIsLive(const mdb_backup::v1::Lock& mark) { return LockIsLive(mark) && !Planted(mark); }

void WarnPlanted(const std::string& key, const mdb_backup::v1::Lock& lock) {
  common::Log(
      common::LogLevel::kWarning, "repo",
      absl::StrCat("removed '", key, "' of pid ", lock.pid(), " on ", ShownHost(lock.host()),
                   ": dated ", common::UtcText(common::FromProto(lock.refreshed_at())),
                   ", too far ahead to be an honest clock's (planted, or that host's "
                   "clock is wrong)"));
}

// One lock object read back after a listing.
struct ReadBack {
  enum State { kGone, kUnreadable, kDamaged, kLock };
  State state;
  absl::Status error;         // kUnreadable: the store's
  mdb_backup::v1::Lock lock;  // kLock
};

ReadBack ReadLock(storage::Storage* storage, const std::string& key) {
  auto body = storage->Get(key);
  if (absl::IsNotFound(body.status())) return {.state = ReadBack::kGone};  // given back since
  if (!body.ok()) return {.state = ReadBack::kUnreadable, .error = body.status()};
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;  // a lock written by a newer version is still a lock
  ReadBack read{.state = ReadBack::kLock};
  if (!google::protobuf::util::JsonStringToMessage(*body, &read.lock, parse).ok()) {
    read.state = ReadBack::kDamaged;
  }
  return read;
}

// A damaged lock (a hand edit, a bad disk) tells neither its kind nor its age: it is live until
// the store's own time says it has not been written for the stale time.
bool DamagedIsStale(const storage::ObjectInfo& o) {
  return absl::Now() - o.modified > CurrentLockTiming().stale;
}

absl::Status DamagedLockError(const storage::ObjectInfo& o) {
  return absl::UnavailableError(absl::StrCat(
      "the repository lock '", o.key, "' is damaged (not a lock's JSON); it is taken as live ",
      "until ", absl::FormatDuration(CurrentLockTiming().stale), " after its last write (",
      common::UtcText(o.modified), "), then GC removes it; retry then"));
}

// Who holds a mark, and until when it counts, for a person to act on. A live mark of this
// host's pid scope has a live process (a dead one's stops counting at once).
std::string Holder(const mdb_backup::v1::Lock& mark) {
  const std::string who = absl::StrCat("pid ", mark.pid(), " on ", ShownHost(mark.host()));
  if (absl::StrContains(LockHost(), "/") && mark.host() == LockHost()) {
    return absl::StrCat(who, " (a process of this host: its mark lapses when it exits)");
  }
  const absl::Time refreshed = common::FromProto(mark.refreshed_at());
  return absl::StrCat(who, " (its mark was last refreshed at ", common::UtcText(refreshed),
                      " by that host's clock; should that process be gone, it lapses at ",
                      common::UtcText(refreshed + CurrentLockTiming().stale), ")");
}

}  // namespace

absl::StatusOr<std::string> Repository::WriteLock(const std::string& kind, const std::string& what,
                                                  mdb_backup::v1::Lock* lock) {
  lock->set_kind(kind);
  lock->set_host(LockHost());
  lock->set_pid(getpid());
  *lock->mutable_refreshed_at() = common::ToProto(absl::Now());
  lock->set_what(what);
  std::string key = absl::StrCat("locks/", kind, "-", common::NewId());
  RETURN_IF_ERROR(PutLock(storage_, key, *lock));
  return key;
}

absl::StatusOr<std::string> Repository::TakeLock(const std::string& kind, const std::string& what) {
  mdb_backup::v1::Lock lock;
  ASSIGN_OR_RETURN(std::string key, WriteLock(kind, what, &lock));
  // Both sides write first and look second, so of a writer and a GC starting together at least
  // one sees the other and backs off.
  auto others = storage_->List("locks/");
  if (!others.ok()) {
    ReleaseLock(key);
    return others.status();
  }
  for (const auto& o : *others) {
    if (o.key == key) continue;
    // Writers share: another writer's lock (its kind is in its key, TakeLock's) is never read,
    // nor a mark, which only GC cleans up after.
    if (kind != "gc" && (absl::StartsWith(o.key, "locks/write-") || IsMark(o.key))) continue;
    ReadBack read = ReadLock(storage_, o.key);
    if (read.state == ReadBack::kGone) continue;  // released since the listing
    if (IsMark(o.key)) {  // only GC gets here: marks never hold it, and it removes dead ones
      if ((read.state == ReadBack::kDamaged && DamagedIsStale(o)) ||
          (read.state == ReadBack::kLock && !MarkIsLive(read.lock))) {
        if (read.state == ReadBack::kLock && Planted(read.lock)) WarnPlanted(o.key, read.lock);
        (void)storage_->Delete(o.key);
      }
      continue;
    }
    if (read.state == ReadBack::kUnreadable) {
      ReleaseLock(key);
      return absl::UnavailableError(
          absl::StrCat("cannot read the repository lock '", o.key, "' (", read.error.message(),
                       "): it may be a running ", kind == "gc" ? "backup's" : "GC's", ", so this ",
                       kind == "gc" ? "GC" : "backup", " does not start; retry"));
    }
    if (read.state == ReadBack::kDamaged) {
      if (DamagedIsStale(o)) {
        if (kind == "gc") (void)storage_->Delete(o.key);
        continue;
      }
      ReleaseLock(key);
      return DamagedLockError(o);
    }
    const mdb_backup::v1::Lock& other = read.lock;
    bool conflicts = kind == "gc" || other.kind() == "gc";
    if (!conflicts) continue;
    const bool planted = other.kind() == "gc" && Planted(other);
    if (!LockIsLive(other) || planted) {
      if (kind == "gc") {  // GC cleans up after dead processes
        if (planted) WarnPlanted(o.key, other);
        (void)storage_->Delete(o.key);
      }
      continue;
    }
    ReleaseLock(key);
    return absl::UnavailableError(absl::StrCat(
        other.kind() == "gc" ? "garbage collection" : absl::StrCat("backup '", other.what(), "'"),
        " is running (pid ", other.pid(), " on ", ShownHost(other.host()),
        "); retry when it ends"));
  }
  locks_->Hold(key, lock);
  return key;
}

void Repository::ReleaseLock(const std::string& key) { locks_->Release(key); }

absl::StatusOr<std::vector<mdb_backup::v1::Lock>> Repository::LiveMarks(const std::string& kind,
                                                                        bool damaged_is_live) {
  ASSIGN_OR_RETURN(auto listed, storage_->List("locks/"));
  const std::string prefix = absl::StrCat("locks/", kind, "-");
  std::vector<mdb_backup::v1::Lock> live;
  for (const auto& o : listed) {
    if (!absl::StartsWith(o.key, prefix)) continue;
    ReadBack read = ReadLock(storage_, o.key);
    switch (read.state) {
      case ReadBack::kGone:
        continue;
      case ReadBack::kUnreadable:
        return absl::UnavailableError(absl::StrCat("cannot read the repository lock '", o.key,
                                                   "' (", read.error.message(), "); retry"));
      case ReadBack::kDamaged:
        if (!damaged_is_live || DamagedIsStale(o)) continue;
        return DamagedLockError(o);
      case ReadBack::kLock:
        if (MarkIsLive(read.lock)) live.push_back(std::move(read.lock));
    }
  }
  return live;
}

absl::StatusOr<std::string> Repository::MarkRead(const std::vector<std::string>& backup_ids) {
  mdb_backup::v1::Lock mark;
  absl::StatusOr<std::string> key = WriteLock("read", absl::StrJoin(backup_ids, ","), &mark);
  if (!key.ok()) {  // FailedPrecondition is the refusal alone: a store's (S3 409, 412) is not one
    return absl::UnavailableError(absl::StrCat("the restore's mark: ", key.status().message()));
  }
  // A damaged delete mark is not taken as live: it cannot say which backups it names, and the
  // restore (what the bad day needs) should not wait on it.
  auto deletes = LiveMarks("delete", /*damaged_is_live=*/false);
  if (!deletes.ok()) {
    // Whether a delete runs cannot be told; the restore goes on (what the bad day needs), its
    // mark held: deletes that start from now on see it.
    common::Log(
        common::LogLevel::kWarning, "repo",
        absl::StrCat("cannot tell whether backup '", backup_ids.front(), "' is being deleted (",
                     deletes.status().message(), "); the restore goes on"));
    deletes = std::vector<mdb_backup::v1::Lock>();
  }
  for (const auto& d : *deletes) {
    auto named = std::find_if(backup_ids.begin(), backup_ids.end(),
                              [&](const std::string& id) { return Names(d.what(), id); });
    if (named == backup_ids.end()) continue;
    ReleaseLock(*key);
    return absl::FailedPreconditionError(absl::StrCat("backup '", *named, "' is being deleted by ",
                                                      Holder(d), "; restore another one"));
  }
  locks_->Hold(*key, mark);
  return *key;
}

absl::Status Repository::LeaveOutRead(std::vector<std::string>* backup_ids, std::string* held_off) {
  ASSIGN_OR_RETURN(auto reads, LiveMarks("read", /*damaged_is_live=*/true));
  std::erase_if(*backup_ids, [&](const std::string& id) {
    auto reader = std::find_if(reads.begin(), reads.end(),
                               [&](const mdb_backup::v1::Lock& r) { return Names(r.what(), id); });
    if (reader == reads.end()) return false;
    if (held_off != nullptr && held_off->empty()) *held_off = Holder(*reader);
    return true;
  });
  return absl::OkStatus();
}

absl::StatusOr<std::string> Repository::MarkDelete(std::vector<std::string>* backup_ids,
                                                   std::string* held_off) {
  // Leaves out what a live read mark names. A damaged read mark may name any of them: the delete
  // waits (it can be done later). A read mark names a whole restore chain, so a chain is left
  // out whole.
  if (backup_ids->empty()) return std::string();  // retention with nothing expired: no call
  // Looked at first too, so that the mark names no backup a restore already reads (a restore of
  // it starting meanwhile would be refused for nothing); only one whose mark lands between this
  // look and the write below is named until the narrowing rewrite.
  RETURN_IF_ERROR(LeaveOutRead(backup_ids, held_off));
  if (backup_ids->empty()) return std::string();
  mdb_backup::v1::Lock mark;
  ASSIGN_OR_RETURN(std::string key, WriteLock("delete", absl::StrJoin(*backup_ids, ","), &mark));
  // And after writing, as locks are: a restore that started since either sees this mark or
  // wrote its own before this look.
  const size_t marked = backup_ids->size();
  if (absl::Status st = LeaveOutRead(backup_ids, held_off); !st.ok()) {
    ReleaseLock(key);
    return st;
  }
  if (backup_ids->empty()) {
    ReleaseLock(key);
    return std::string();
  }
  if (backup_ids->size() != marked) {  // restores of those it leaves need not wait for it
    mark.set_what(absl::StrJoin(*backup_ids, ","));
    if (absl::Status st = PutLock(storage_, key, mark); !st.ok()) {
      ReleaseLock(key);
      return st;
    }
  }
  locks_->Hold(key, mark);
  return key;
}

absl::Status Repository::WithLapsedMarks(const absl::Status& status,
                                         const std::vector<std::string>& marks) {
  // A mark whose refreshes the store refused for the stale time stopped holding deletes off
  // elsewhere: what the restore read may have been deleted under it, which may be why it failed.
  if (status.ok() || absl::IsCancelled(status)) return status;
  std::optional<absl::Time> since;
  for (const auto& key : marks) {
    std::optional<absl::Time> lapsed = MarkLapsedSince(key);
    if (lapsed && (!since || *lapsed < *since)) since = lapsed;
  }
  if (!since) return status;
  return common::WithDetail(
      status, absl::StrCat("this restore's repository mark went unrefreshed since ",
                           common::UtcText(*since), " (the store refused the writes), so a delete ",
                           "elsewhere may have removed what it read"));
}

bool HeldBy(const absl::Status& status, bool gc) {
  // The messages TakeLock makes: "garbage collection is running (pid ...", "backup 'x' is
  // running (pid ...".
  if (!absl::IsUnavailable(status)) return false;
  absl::string_view m = status.message();
  if (gc) return absl::StartsWith(m, "garbage collection is running (pid ");
  return absl::StartsWith(m, "backup '") && absl::StrContains(m, "' is running (pid ");
}

}  // namespace mdb::repo
