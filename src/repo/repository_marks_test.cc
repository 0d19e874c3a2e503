// The marks of restores and deletes (repo/locks.cc, docs/format.md "Locks"): across processes
// sharing a repository, a delete leaves alone what a restore reads, and a restore refuses what a
// delete takes; neither waits for GC nor GC for them. Two Repository objects on one storage are
// two processes here (each its own lock keeper).
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/time_util.h"
#include "google/protobuf/util/json_util.h"
#include "mdb_backup/v1/repo.pb.h"
#include "repo/lock_keeper.h"
#include "repo/repository.h"
#include "repo/repository_test_fixture.h"
#include "storage/fault_storage.h"

namespace mdb::repo {
namespace {

// A mark of another process (pid 1 on another host: never judged by its pid), refreshed at `at`.
std::string OtherMark(const std::string& kind, const std::string& what, absl::Time at) {
  mdb_backup::v1::Lock mark;
  mark.set_kind(kind);
  mark.set_what(what);
  mark.set_host("elsewhere");
  mark.set_pid(1);
  *mark.mutable_refreshed_at() = common::ToProto(at);
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(mark, &json).ok());
  return json;
}

TEST_F(RepositoryTest, ADeleteLeavesWhatAnotherProcessRestoresAndARestoreRefusesWhatIsDeleted) {
  auto restorer = std::move(*Repository::Init(storage_.get(), Small()));
  auto deleter = std::move(*Repository::Open(storage_.get(), {}));
  auto read = restorer->MarkRead({"b1"});
  ASSERT_TRUE(read.ok()) << read.status();
  std::vector<std::string> ids = {"b1", "b2"};
  auto del = deleter->MarkDelete(&ids);
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(ids, std::vector<std::string>{"b2"});  // b1 is read elsewhere: left for later
  // The delete's mark names only what it takes: b1 may still be restored meanwhile.
  auto again = restorer->MarkRead({"b1"});
  ASSERT_TRUE(again.ok()) << again.status();
  restorer->Unmark(*again);
  auto refused = restorer->MarkRead({"b2"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "backup 'b2' is being deleted by pid "))
      << refused.status();
  deleter->Unmark(*del);
  restorer->Unmark(*read);
  ids = {"b1"};
  del = deleter->MarkDelete(&ids);
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(ids, std::vector<std::string>{"b1"});  // nothing reads it now
  deleter->Unmark(*del);
  EXPECT_TRUE(storage_->List("locks/")->empty());  // every mark given back
}

// A restore marks its chain in one step: a delete sees all of it or none, and never takes the
// parent of an INCREMENTAL backup being restored while leaving the child.
TEST_F(RepositoryTest, ARestoresChainIsLeftOutWhole) {
  auto restorer = std::move(*Repository::Init(storage_.get(), Small()));
  auto deleter = std::move(*Repository::Open(storage_.get(), {}));
  auto read = restorer->MarkRead({"inc", "base"});
  ASSERT_TRUE(read.ok()) << read.status();
  std::vector<std::string> ids = {"base", "other"};
  auto del = deleter->MarkDelete(&ids);
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(ids, std::vector<std::string>{"other"});
  auto refused = restorer->MarkRead({"next", "other"});
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "backup 'other' is being deleted"))
      << refused.status();
  deleter->Unmark(*del);
  restorer->Unmark(*read);
}

// A delete's mark never names what a restore reads, not even between its write and its second
// look: a restore of that backup starting meanwhile is not refused. Before, the mark named every
// backup asked for until it was narrowed, and such a restore was refused for nothing.
TEST_F(RepositoryTest, ADeletesMarkNeverNamesWhatARestoreReads) {
  auto restorer = std::move(*Repository::Init(storage_.get(), Small()));
  auto read = restorer->MarkRead({"b1"});
  ASSERT_TRUE(read.ok()) << read.status();
  std::vector<absl::Status> meanwhile;  // a restore of b1 at each of the delete's looks
  storage::FaultStorage watched(storage_.get(),
                                [&](storage::FaultOp op, const std::string& key, int) {
                                  if (op == storage::FaultOp::kList && key == "locks/") {
                                    auto again = restorer->MarkRead({"b1"});
                                    meanwhile.push_back(again.status());
                                    if (again.ok()) restorer->Unmark(*again);
                                  }
                                  return storage::Fault{};
                                });
  auto deleter = std::move(*Repository::Open(&watched, {}));
  std::vector<std::string> ids = {"b1", "b2"};
  std::string reader;
  auto del = deleter->MarkDelete(&ids, &reader);
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(ids, std::vector<std::string>{"b2"});
  EXPECT_EQ(meanwhile.size(), 2u);  // before its mark is written, and after
  for (const auto& st : meanwhile) EXPECT_TRUE(st.ok()) << st;
  // Who reads it, for the refusal a person sees: a process of this host lapses when it exits.
  EXPECT_TRUE(absl::StartsWith(reader, absl::StrCat("pid ", getpid(), " on "))) << reader;
  EXPECT_TRUE(
      absl::StrContains(reader, "(a process of this host: its mark lapses when it exits)") ||
      absl::StrContains(reader, "; should that process be gone, it lapses at "))  // no /proc
      << reader;
  deleter->Unmark(*del);
  restorer->Unmark(*read);
}

// A mark GC cannot read (the store fails that GET) does not hold GC: marks never do.
TEST_F(RepositoryTest, AMarkGcCannotReadDoesNotHoldIt) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(storage_->Put("locks/read-unreadable", OtherMark("read", "b1", absl::Now())).ok());
  storage::FaultStorage faulty(storage_.get(), [](storage::FaultOp op, const std::string& key,
                                                  int) {
    return storage::Fault{.fail = op == storage::FaultOp::kGet && key == "locks/read-unreadable"};
  });
  auto gc_side = std::move(*Repository::Open(&faulty, {}));
  auto gc = gc_side->Gc();
  EXPECT_TRUE(gc.ok()) << gc.status();
  EXPECT_TRUE(storage_->Stat("locks/read-unreadable").ok());  // nor removed: it may be live
  // A delete, which must know, waits instead.
  std::vector<std::string> ids = {"b1"};
  EXPECT_TRUE(absl::IsUnavailable(gc_side->MarkDelete(&ids).status()));
}

// A restore's mark the store refuses with its own FailedPrecondition (an S3 409 or 412) is not
// taken for "being deleted": the restore goes on without its mark (Jobs::Read, the CLI).
TEST_F(RepositoryTest, AStoresRefusalOfAMarkIsNoDeleteRefusal) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  storage::FaultStorage conflicting(
      storage_.get(), [](storage::FaultOp op, const std::string& key, int) {
        return storage::Fault{
            .fail = op == storage::FaultOp::kPut && absl::StartsWith(key, "locks/read-"),
            .status = absl::FailedPreconditionError("409 Conflict")};
      });
  auto restorer = std::move(*Repository::Open(&conflicting, {}));
  auto read = restorer->MarkRead({"b1"});
  EXPECT_TRUE(absl::IsUnavailable(read.status())) << read.status();
  EXPECT_TRUE(absl::StrContains(read.status().message(), "409 Conflict")) << read.status();
  // A mark written whose look for deletes fails is kept: deletes from now on see it.
  storage::FaultStorage unlisted(
      storage_.get(), [](storage::FaultOp op, const std::string& prefix, int) {
        return storage::Fault{.fail = op == storage::FaultOp::kList && prefix == "locks/"};
      });
  auto blind = std::move(*Repository::Open(&unlisted, {}));
  read = blind->MarkRead({"b1"});
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(storage_->Stat(*read).ok());
  blind->Unmark(*read);
}

// A gc lock dated further ahead than any clock may be (planted to stop every backup) holds no
// backup off, and GC removes it.
TEST_F(RepositoryTest, APlantedGcLockStopsNoBackup) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(
      storage_->Put("locks/gc-planted", OtherMark("gc", "", absl::Now() + absl::Hours(24))).ok());
  auto w = repo->StartBackup({.backup_id = "b1", .engine = "test"});
  ASSERT_TRUE(w.ok()) << w.status();
  (*w)->Abort();
  ASSERT_TRUE(repo->Gc().ok());
  EXPECT_TRUE(absl::IsNotFound(storage_->Stat("locks/gc-planted").status()));
}

// A mark is kept fresh while held: a restore longer than the stale time still holds deletes off
// (2 s stale here, refreshed every 50 ms).
TEST_F(RepositoryTest, AMarkHeldPastTheStaleTimeStillCounts) {
  struct Timing {  // restored however the test ends
    Timing() {
      SetLockTimingForTest({.refresh = absl::Milliseconds(50), .stale = absl::Seconds(2)});
    }
    ~Timing() { SetLockTimingForTest({}); }
  } timing;
  auto restorer = std::move(*Repository::Init(storage_.get(), Small()));
  auto deleter = std::move(*Repository::Open(storage_.get(), {}));
  auto read = restorer->MarkRead({"b1"});
  ASSERT_TRUE(read.ok()) << read.status();
  absl::SleepFor(absl::Seconds(3));
  std::vector<std::string> ids = {"b1"};
  auto del = deleter->MarkDelete(&ids);
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_TRUE(ids.empty());
  restorer->Unmark(*read);
}

// Marks never stop a GC or a backup, nor do they wait for one: a restore on the bad day does not
// queue behind a GC. GC removes the marks of processes that are gone.
TEST_F(RepositoryTest, MarksNeitherWaitForGcNorHoldItAndGcRemovesDeadOnes) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  auto read = repo->MarkRead({"b1"});
  ASSERT_TRUE(read.ok()) << read.status();
  std::vector<std::string> ids = {"b2"};
  auto del = repo->MarkDelete(&ids);
  ASSERT_TRUE(del.ok()) << del.status();
  auto gc = repo->Gc();
  EXPECT_TRUE(gc.ok()) << gc.status();
  auto w = repo->StartBackup({.backup_id = "b3", .engine = "test"});
  ASSERT_TRUE(w.ok()) << w.status();
  auto during_write = repo->MarkRead({"b1"});
  EXPECT_TRUE(during_write.ok()) << during_write.status();
  repo->Unmark(*during_write);
  (*w)->Abort();
  repo->Unmark(*read);
  repo->Unmark(*del);

  // A restorer killed with -9 long ago: its mark is stale; a delete takes b1 and GC removes it.
  ASSERT_TRUE(
      storage_->Put("locks/read-dead", OtherMark("read", "b1", absl::Now() - absl::Hours(1))).ok());
  ids = {"b1"};
  del = repo->MarkDelete(&ids);
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(ids, std::vector<std::string>{"b1"});
  repo->Unmark(*del);
  ASSERT_TRUE(repo->Gc().ok());
  EXPECT_TRUE(storage_->List("locks/")->empty());
}

// A damaged read mark may name any backup: deletes wait for it (they can be done later); a
// damaged delete mark names nothing a restore can check, and restores go on (they cannot wait),
// as they do past one dated further ahead than any clock may be.
TEST_F(RepositoryTest, ADamagedMarkStopsDeletesButNoRestore) {
  auto repo = std::move(*Repository::Init(storage_.get(), Small()));
  ASSERT_TRUE(storage_->Put("locks/read-damaged", "{\"kind\": \"read\", trunc").ok());
  std::vector<std::string> ids = {"b1"};
  auto del = repo->MarkDelete(&ids);
  EXPECT_TRUE(absl::IsUnavailable(del.status())) << del.status();
  EXPECT_TRUE(absl::StrContains(del.status().message(), "'locks/read-damaged' is damaged"));
  // Retention with nothing expired asks nothing of the store: a damaged mark does not fail it.
  std::vector<std::string> none;
  auto nothing = repo->MarkDelete(&none);
  ASSERT_TRUE(nothing.ok()) << nothing.status();
  EXPECT_EQ(*nothing, "");
  ASSERT_TRUE(storage_->Delete("locks/read-damaged").ok());
  // A read mark dated a day ahead (planted to keep deletes out for good) holds nothing, and GC
  // removes it.
  ASSERT_TRUE(
      storage_->Put("locks/read-planted", OtherMark("read", "b1", absl::Now() + absl::Hours(24)))
          .ok());
  del = repo->MarkDelete(&ids);
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(ids, std::vector<std::string>{"b1"});
  repo->Unmark(*del);
  ASSERT_TRUE(repo->Gc().ok());
  EXPECT_TRUE(absl::IsNotFound(storage_->Stat("locks/read-planted").status()));
  ASSERT_TRUE(storage_->Put("locks/delete-damaged", "not json").ok());
  auto read = repo->MarkRead({"b1"});
  EXPECT_TRUE(read.ok()) << read.status();
  repo->Unmark(*read);
  // Nor does a delete mark dated a day ahead (planted to keep restores out for good).
  const std::string planted = "locks/delete-planted";
  ASSERT_TRUE(
      storage_->Put(planted, OtherMark("delete", "b1", absl::Now() + absl::Hours(24))).ok());
  read = repo->MarkRead({"b1"});
  EXPECT_TRUE(read.ok()) << read.status();
  repo->Unmark(*read);
  ASSERT_TRUE(
      storage_->Put(planted, OtherMark("delete", "b1", absl::Now())).ok());  // live: refuses
  EXPECT_EQ(repo->MarkRead({"b1"}).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(storage_->Delete(planted).ok());
  EXPECT_TRUE(repo->Gc().ok());  // and a damaged mark never holds GC
}

}  // namespace
}  // namespace mdb::repo
