// What the SQL catalogs share above their SQL: the operation and lease calls of the Catalog
// interface, each run on a pooled connection of the concrete catalog (`Self::WithConn`) by the
// catalog's `Ops` (sqlite_operations.cc, postgres_operations.cc: the same statements in each
// dialect).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catalog/catalog.h"
#include "catalog/page_token.h"
#include "common/status.h"

namespace mdb::catalog {

// ModifyBackup's change, held to what it may change: the columns beside the record (engine,
// folder, cluster, created_at) are not rewritten, so a change of them would leave the two apart.
inline absl::Status CheckedChange(const std::string& id,
                                  const std::function<absl::Status(BackupRecord*)>& change,
                                  BackupRecord* rec) {
  const BackupRecord before = *rec;
  RETURN_IF_ERROR(change(rec));
  if (rec->id() != id || rec->engine() != before.engine() ||
      rec->folder_id() != before.folder_id() || rec->cluster_id() != before.cluster_id() ||
      rec->created_at().SerializeAsString() != before.created_at().SerializeAsString()) {
    return absl::InternalError(absl::StrCat("catalog: a change of backup '", id,
                                            "' moved its id, engine, folder, cluster or time"));
  }
  return absl::OkStatus();
}

template <typename Self, typename Connection, typename Ops>
class SqlCatalog : public Catalog {
 public:
  absl::Status PutOperation(const OperationRecord& r) override {
    return self().WithConn([&](Connection* c) { return Ops::PutOperation(c, r); });
  }
  absl::StatusOr<OperationRecord> GetOperation(const std::string& id) override {
    return WithConnOr<OperationRecord>([&](Connection* c) { return Ops::GetOperation(c, id); });
  }
  absl::StatusOr<std::vector<OperationRecord>> ListUnfinishedOperations() override {
    std::vector<OperationRecord> out;
    RETURN_IF_ERROR(
        self().WithConn([&](Connection* c) { return Ops::ListUnfinishedOperations(c, &out); }));
    return out;
  }
  absl::StatusOr<OperationPage> ListClusterOperations(const OperationQuery& q) override {
    const std::string scope = absl::StrCat("operations/cluster/", q.cluster_id);
    PageCursor after{.created_ns = INT64_MAX, .seq = INT64_MAX};
    if (!q.page_token.empty()) {
      ASSIGN_OR_RETURN(after, self().codec().Decode(q.page_token, scope));
    }
    std::vector<std::pair<PageCursor, OperationRecord>> rows;
    RETURN_IF_ERROR(self().WithConn([&](Connection* c) {
      rows.clear();  // a retry on a fresh connection starts over
      // One extra row tells whether a next page exists.
      return Ops::ListClusterOperations(c, q.cluster_id, after, q.page_size + 1, &rows);
    }));
    OperationPage page;
    for (auto& [cursor, record] : rows) {
      if (static_cast<int>(page.operations.size()) == q.page_size) {
        page.next_page_token = self().codec().Encode(after, scope);
        break;
      }
      after = cursor;
      page.operations.push_back(std::move(record));
    }
    return page;
  }
  absl::StatusOr<OperationLease> RenewOperation(const OperationRecord& op) override {
    return WithConnOr<OperationLease>([&](Connection* c) { return Ops::RenewOperation(c, op); });
  }
  absl::StatusOr<bool> FinishOperation(const OperationRecord& op,
                                       std::optional<absl::Time> expired_at) override {
    ASSIGN_OR_RETURN(bool written, WithConnOr<bool>([&](Connection* c) {
                       return Ops::FinishOperation(c, op, expired_at);
                     }));
    if (written) return true;
    // A call retried on a fresh connection after its first try committed (the reply lost)
    // finds the row done already: by this very write when the row is exactly it.
    auto now = GetOperation(op.operation.id());
    return now.ok() && now->operation.done() && now->owner == op.owner &&
           now->operation.SerializeAsString() == op.operation.SerializeAsString();
  }
  absl::StatusOr<std::optional<OperationRecord>> ClaimOperation(const std::string& owner,
                                                                absl::Time until) override {
    int attempt = 0;
    return WithConnOr<std::optional<OperationRecord>>(
        [&](Connection* c) -> absl::StatusOr<std::optional<OperationRecord>> {
          // Retried on a fresh connection: the first try may have claimed a row (its reply
          // lost); that row is ours with exactly this lease, and is the one to return.
          if (attempt++ > 0) {
            ASSIGN_OR_RETURN(std::optional<OperationRecord> taken,
                             Ops::FindClaimed(c, owner, until));
            if (taken) return taken;
          }
          return Ops::ClaimOperation(c, owner, until);
        });
  }
  absl::StatusOr<bool> ReleaseOperation(const std::string& id, const std::string& owner) override {
    return WithConnOr<bool>([&](Connection* c) { return Ops::ReleaseOperation(c, id, owner); });
  }
  absl::Status RequestCancel(const std::string& id) override {
    return self().WithConn([&](Connection* c) { return Ops::RequestCancel(c, id); });
  }
  absl::StatusOr<bool> TryLease(const std::string& name, const std::string& owner, absl::Time now,
                                absl::Time until) override {
    return WithConnOr<bool>(
        [&](Connection* c) { return Ops::TryLease(c, name, owner, now, until); });
  }
  absl::Status ReleaseLease(const std::string& name, const std::string& owner) override {
    return self().WithConn([&](Connection* c) { return Ops::ReleaseLease(c, name, owner); });
  }
  absl::Status ReleaseLeases(const std::string& prefix, const std::string& owner) override {
    if (prefix.empty()) {  // every lease of the owner: never what a caller means
      return absl::InvalidArgumentError("release leases: an empty name prefix");
    }
    return self().WithConn([&](Connection* c) { return Ops::ReleaseLeases(c, prefix, owner); });
  }

 protected:
  // `fn` returns a StatusOr<T>: run on a pooled connection, its value or the first error.
  template <typename T, typename Fn>
  absl::StatusOr<T> WithConnOr(Fn fn) {
    std::optional<T> out;
    RETURN_IF_ERROR(self().WithConn([&](Connection* c) -> absl::Status {
      ASSIGN_OR_RETURN(out, fn(c));
      return absl::OkStatus();
    }));
    return *std::move(out);
  }

 private:
  Self& self() { return static_cast<Self&>(*this); }
};

}  // namespace mdb::catalog
