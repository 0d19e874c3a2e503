// Collecting the findings of a driver's pre-flight check (Driver::Check) for one server.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"

namespace mdb::engine {

class CheckList {
 public:
  // Findings go to `out`, each marked with `where` ("<shard> <host:port>").
  CheckList(std::vector<CheckItem>* out, std::string where) : out_(out), where_(std::move(where)) {}
  void Ok(std::string what, std::string detail) {
    Add(CheckItem::Level::kOk, std::move(what), std::move(detail), "");
  }
  void Warn(std::string what, std::string detail, std::string fix) {
    Add(CheckItem::Level::kWarning, std::move(what), std::move(detail), std::move(fix));
  }
  void Fail(std::string what, std::string detail, std::string fix) {
    Add(CheckItem::Level::kFailed, std::move(what), std::move(detail), std::move(fix));
  }
  // The server could not be asked (see CheckItem::unreachable).
  void Unreachable(std::string what, std::string detail, std::string fix) {
    Add(CheckItem::Level::kFailed, std::move(what), std::move(detail), std::move(fix));
    out_->back().unreachable = true;
  }

 private:
  void Add(CheckItem::Level level, std::string what, std::string detail, std::string fix) {
    out_->push_back({level, where_, std::move(what), std::move(detail), std::move(fix)});
  }
  std::vector<CheckItem>* out_;
  std::string where_;
};

// For engines that back up from any one host of a shard: once a host of the shard (findings from
// `first` on) connected, the others' failures are warnings (the backup uses the one that works).
inline void OneHostIsEnough(std::vector<CheckItem>* out, size_t first) {
  bool any = false;
  for (size_t i = first; i < out->size(); ++i) {
    any |= (*out)[i].what == "connection" && (*out)[i].level == CheckItem::Level::kOk;
  }
  if (!any) return;
  for (size_t i = first; i < out->size(); ++i) {
    if ((*out)[i].what == "connection" && (*out)[i].level == CheckItem::Level::kFailed) {
      (*out)[i].level = CheckItem::Level::kWarning;
      (*out)[i].detail += " (another host of the shard serves)";
    }
  }
}

// Runs `check` on every host of every shard, each with its own CheckList; for engines that back
// up from any one host of a shard (OneHostIsEnough applies to sources).
inline std::vector<CheckItem> CheckEveryHost(
    const common::ClusterConfig& cluster,
    const std::function<void(const common::HostConfig&, CheckList*)>& check) {
  std::vector<CheckItem> out;
  for (const auto& shard : cluster.shards) {
    const size_t first = out.size();
    for (const auto& host : shard.hosts) {
      CheckList c(&out, absl::StrCat(shard.name, " ", host.address));
      check(host, &c);
    }
    if (!cluster.restore_target) OneHostIsEnough(&out, first);
  }
  return out;
}

}  // namespace mdb::engine
