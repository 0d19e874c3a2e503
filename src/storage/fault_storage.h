// A fault-injecting Storage wrapper for tests: fails chosen calls, before or after the inner call
// (after = the store did the work but the caller hears an error, as with a lost response).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "storage/storage.h"

namespace mdb::storage {

// kAppend: one Append of a StartPut writer; its Commit is the object's kPut.
enum class FaultOp { kPut, kGet, kGetRange, kList, kStat, kDelete, kAppend };

struct Fault {
  bool fail = false;
  bool after = false;  // run the inner call first, then report `status`
  absl::Status status = absl::UnavailableError("injected fault");
};

class FaultStorage final : public Storage {
 public:
  using Rule = std::function<Fault(FaultOp op, const std::string& key, int call)>;

  FaultStorage(Storage* inner, Rule rule) : inner_(inner), rule_(std::move(rule)) {}

  absl::Status Put(const std::string& key, std::string_view data) override {
    return Wrap<absl::Status>(FaultOp::kPut, key, [&] { return inner_->Put(key, data); });
  }
  // The inner driver's own writer (posix: a temporary file), its calls failed as the rule says.
  absl::StatusOr<std::unique_ptr<ObjectWriter>> StartPut(const std::string& key,
                                                         size_t size_hint) override {
    auto inner = inner_->StartPut(key, size_hint);
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<ObjectWriter>(new Writer(this, key, std::move(*inner)));
  }
  absl::StatusOr<std::string> Get(const std::string& key) override {
    return Wrap<absl::StatusOr<std::string>>(FaultOp::kGet, key, [&] { return inner_->Get(key); });
  }
  absl::StatusOr<std::string> GetRange(const std::string& key, uint64_t offset,
                                       uint64_t length) override {
    return Wrap<absl::StatusOr<std::string>>(FaultOp::kGetRange, key,
                                             [&] { return inner_->GetRange(key, offset, length); });
  }
  absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    return Wrap<absl::StatusOr<std::vector<ObjectInfo>>>(FaultOp::kList, prefix,
                                                         [&] { return inner_->List(prefix); });
  }
  absl::StatusOr<ObjectInfo> Stat(const std::string& key) override {
    return Wrap<absl::StatusOr<ObjectInfo>>(FaultOp::kStat, key, [&] { return inner_->Stat(key); });
  }
  absl::Status Delete(const std::string& key) override {
    return Wrap<absl::Status>(FaultOp::kDelete, key, [&] { return inner_->Delete(key); });
  }
  std::string Describe() const override { return "faulty " + inner_->Describe(); }

  int calls() const { return calls_.load(); }

 private:
  template <typename R, typename Fn>
  R Wrap(FaultOp op, const std::string& key, Fn fn) {
    Fault f = rule_(op, key, calls_.fetch_add(1));
    if (!f.fail) return fn();
    if (f.after) (void)fn();
    return R(f.status);
  }

  class Writer final : public ObjectWriter {
   public:
    Writer(FaultStorage* owner, std::string key, std::unique_ptr<ObjectWriter> inner)
        : owner_(owner), key_(std::move(key)), inner_(std::move(inner)) {}
    absl::Status Append(std::string_view data) override {
      return owner_->Wrap<absl::Status>(FaultOp::kAppend, key_,
                                        [&] { return inner_->Append(data); });
    }
    absl::Status Commit() override {
      return owner_->Wrap<absl::Status>(FaultOp::kPut, key_, [&] { return inner_->Commit(); });
    }

   private:
    FaultStorage* owner_;
    std::string key_;
    std::unique_ptr<ObjectWriter> inner_;
  };

  Storage* inner_;
  Rule rule_;
  std::atomic<int> calls_{0};
};

}  // namespace mdb::storage
