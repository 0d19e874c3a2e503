// A Catalog that passes every call to another one: what a test's catalog derives from when it
// changes one or two calls of a real catalog (fails them, or changes the catalog meanwhile).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"

namespace mdb::catalog {

class ForwardingCatalog : public Catalog {
 public:
  explicit ForwardingCatalog(Catalog* real) : real_(real) {}

  absl::Status PutBackup(const BackupRecord& b) override { return real_->PutBackup(b); }
  absl::Status PutBackups(const std::vector<BackupRecord>& b) override {
    return real_->PutBackups(b);
  }
  absl::StatusOr<BackupRecord> GetBackup(const std::string& id) override {
    return real_->GetBackup(id);
  }
  absl::StatusOr<ListPage> ListBackups(const ListQuery& q) override {
    return real_->ListBackups(q);
  }
  absl::StatusOr<std::optional<int64_t>> BackupsVersion() override {
    return real_->BackupsVersion();
  }
  absl::StatusOr<std::vector<std::string>> ListAllBackupIds() override {
    return real_->ListAllBackupIds();
  }
  absl::Status ModifyBackup(const std::string& id,
                            const std::function<absl::Status(BackupRecord*)>& change) override {
    return real_->ModifyBackup(id, change);
  }
  absl::Status DeleteBackup(const std::string& id) override { return real_->DeleteBackup(id); }
  absl::Status PutOperation(const OperationRecord& op) override { return real_->PutOperation(op); }
  absl::StatusOr<OperationRecord> GetOperation(const std::string& id) override {
    return real_->GetOperation(id);
  }
  absl::StatusOr<OperationPage> ListClusterOperations(const OperationQuery& q) override {
    return real_->ListClusterOperations(q);
  }
  absl::StatusOr<std::vector<OperationRecord>> ListUnfinishedOperations() override {
    return real_->ListUnfinishedOperations();
  }
  absl::StatusOr<OperationLease> RenewOperation(const OperationRecord& op) override {
    return real_->RenewOperation(op);
  }
  absl::StatusOr<bool> FinishOperation(const OperationRecord& op,
                                       std::optional<absl::Time> expired_at) override {
    return real_->FinishOperation(op, expired_at);
  }
  absl::StatusOr<std::optional<OperationRecord>> ClaimOperation(const std::string& owner,
                                                                absl::Time until) override {
    return real_->ClaimOperation(owner, until);
  }
  absl::StatusOr<bool> ReleaseOperation(const std::string& id, const std::string& owner) override {
    return real_->ReleaseOperation(id, owner);
  }
  absl::Status RequestCancel(const std::string& id) override { return real_->RequestCancel(id); }
  absl::StatusOr<bool> TryLease(const std::string& name, const std::string& owner, absl::Time now,
                                absl::Time until) override {
    return real_->TryLease(name, owner, now, until);
  }
  absl::Status ReleaseLease(const std::string& name, const std::string& owner) override {
    return real_->ReleaseLease(name, owner);
  }
  absl::Status ReleaseLeases(const std::string& prefix, const std::string& owner) override {
    return real_->ReleaseLeases(prefix, owner);
  }
  absl::StatusOr<std::unique_ptr<ExclusiveUse>> AcquireExclusiveUse() override {
    return real_->AcquireExclusiveUse();
  }
  absl::StatusOr<std::unique_ptr<ExclusiveUse>> AcquireSharedUse() override {
    return real_->AcquireSharedUse();
  }

 private:
  Catalog* real_;
};

}  // namespace mdb::catalog
