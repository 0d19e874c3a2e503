// The repository's locks (docs/format.md "Locks"): a writer's shared `write` lock and GC's
// exclusive `gc` lock. Every doubt counts against GC: a lock that cannot be read, or that is
// damaged, is taken as live, since taking a live backup's lock for dead lets GC delete the packs
// it has written and not yet indexed, and that backup then commits with data missing.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
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

}  // namespace

absl::StatusOr<std::string> Repository::TakeLock(const std::string& kind, const std::string& what) {
  mdb_backup::v1::Lock lock;
  lock.set_kind(kind);
  lock.set_host(LockHost());
  lock.set_pid(getpid());
  *lock.mutable_refreshed_at() = common::ToProto(absl::Now());
  lock.set_what(what);
  std::string key = absl::StrCat("locks/", kind, "-", common::NewId());
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(lock, &json);
  RETURN_IF_ERROR(storage_->Put(key, json));
  // Both sides write first and look second, so of a writer and a GC starting together at least
  // one sees the other and backs off.
  auto others = storage_->List("locks/");
  if (!others.ok()) {
    ReleaseLock(key);
    return others.status();
  }
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;  // a lock written by a newer version is still a lock
  for (const auto& o : *others) {
    if (o.key == key) continue;
    // Writers share: another writer's lock (its kind is in its key, TakeLock's) is never read.
    if (kind != "gc" && absl::StartsWith(o.key, "locks/write-")) continue;
    auto body = storage_->Get(o.key);
    if (absl::IsNotFound(body.status())) continue;  // released since the listing
    if (!body.ok()) {
      ReleaseLock(key);
      return absl::UnavailableError(
          absl::StrCat("cannot read the repository lock '", o.key, "' (", body.status().message(),
                       "): it may be a running ", kind == "gc" ? "backup's" : "GC's", ", so this ",
                       kind == "gc" ? "GC" : "backup", " does not start; retry"));
    }
    mdb_backup::v1::Lock other;
    if (!google::protobuf::util::JsonStringToMessage(*body, &other, parse).ok()) {
      // Damaged (a hand edit, a bad disk): its kind and age are unknown, so it is live until
      // the store's own time says it has not been written for the stale time.
      if (absl::Now() - o.modified > CurrentLockTiming().stale) {
        if (kind == "gc") (void)storage_->Delete(o.key);
        continue;
      }
      ReleaseLock(key);
      return absl::UnavailableError(absl::StrCat(
          "the repository lock '", o.key, "' is damaged (not a lock's JSON); it is taken as live ",
          "until ", absl::FormatDuration(CurrentLockTiming().stale), " after its last write (",
          common::UtcText(o.modified), "), then GC removes it; retry then"));
    }
    bool conflicts = kind == "gc" || other.kind() == "gc";
    if (!conflicts) continue;
    if (!LockIsLive(other)) {
      if (kind == "gc") (void)storage_->Delete(o.key);  // GC cleans up after dead processes
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

bool HeldBy(const absl::Status& status, bool gc) {
  // The messages TakeLock makes: "garbage collection is running (pid ...", "backup 'x' is
  // running (pid ...".
  if (!absl::IsUnavailable(status)) return false;
  absl::string_view m = status.message();
  if (gc) return absl::StartsWith(m, "garbage collection is running (pid ");
  return absl::StartsWith(m, "backup '") && absl::StrContains(m, "' is running (pid ");
}

}  // namespace mdb::repo
