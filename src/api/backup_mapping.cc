// By name rather than per engine with the generated types, so that an engine is one row of the
// engine table and no code here: the plan below is built once per Backup type and checked field by
// field (same kind, same repeatedness, same message type), and the mapping of every engine is
// pinned by tests (rest_test.cc, the SDK tests, server/engine_row_test.cc).
#include "api/backup_mapping.h"

#include <map>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/validation.h"
#include "common/log.h"
#include "google/protobuf/stubs/common.h"  // IsStructurallyValidUTF8: what protobuf checks
#include "google/protobuf/unknown_field_set.h"

namespace mdb::api {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using Record = catalog::BackupRecord;

// Record fields the contracts spell otherwise, in the order tried.
const std::multimap<std::string, std::string>& Aliases() {
  static const auto* aliases = new std::multimap<std::string, std::string>{
      {"cluster_id", "source_cluster_id"},
      {"size", "size"},
      {"size", "size_bytes"},                         // OpenSearch
      {"added_size", "incremental_size_bytes"},       // OpenSearch
      {"logical_size", "total_size_bytes"},           // OpenSearch
      {"restore_size", "free_space_required_bytes"},  // OpenSearch
  };
  return *aliases;
}

struct Step {
  const FieldDescriptor* from;  // in BackupRecord
  const FieldDescriptor* to;    // in the engine's Backup
  int64_t max_entries;          // repeated fields: the contract's bound
};

bool SameKind(const FieldDescriptor* a, const FieldDescriptor* b) {
  if (a->is_repeated() != b->is_repeated() || a->cpp_type() != b->cpp_type()) return false;
  return a->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
         a->message_type() == b->message_type();
}

struct Plan {
  std::vector<Step> steps;
  // The Backup's repeated fields with an upper bound in the contract, and that bound.
  std::vector<std::pair<const FieldDescriptor*, int64_t>> bounded;
};

Plan BuildPlan(const Descriptor* backup) {
  Plan plan;
  const Descriptor* record = Record::descriptor();
  for (int i = 0; i < record->field_count(); ++i) {
    const FieldDescriptor* from = record->field(i);
    std::vector<std::string> names;
    auto [first, last] = Aliases().equal_range(from->name());
    for (auto it = first; it != last; ++it) names.push_back(it->second);
    if (names.empty()) names.push_back(from->name());
    for (const std::string& name : names) {
      const FieldDescriptor* to = backup->FindFieldByName(name);
      if (to && SameKind(from, to)) {
        plan.steps.push_back({from, to, to->is_repeated() ? MaxEntries(to) : 0});
        break;
      }
    }
  }
  for (int i = 0; i < backup->field_count(); ++i) {
    const FieldDescriptor* f = backup->field(i);
    if (f->is_repeated() && MaxEntries(f) != INT64_MAX) plan.bounded.emplace_back(f, MaxEntries(f));
  }
  return plan;
}

const Plan& PlanFor(const Descriptor* backup) {
  static std::mutex mu;
  static auto* plans = new std::map<const Descriptor*, Plan>;
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans->find(backup);
  if (it == plans->end()) it = plans->emplace(backup, BuildPlan(backup)).first;
  return it->second;  // never erased: the reference stays valid
}

void Copy(const Record& r, const Step& s, Message* out) {
  const auto* from = r.GetReflection();
  const auto* to = out->GetReflection();
  if (s.from->is_repeated()) {
    to->ClearField(out, s.to);
    int n = static_cast<int>(std::min<int64_t>(from->FieldSize(r, s.from), s.max_entries));
    for (int i = 0; i < n; ++i) {
      // The record's repeated fields are strings (shard names).
      to->AddString(out, s.to, from->GetRepeatedString(r, s.from, i));
    }
    return;
  }
  switch (s.from->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      to->SetString(out, s.to, from->GetString(r, s.from));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      to->SetInt64(out, s.to, from->GetInt64(r, s.from));
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      // By value name: AUTOMATED is AUTOMATED whatever number an engine's enum gives it.
      const auto* value = s.to->enum_type()->FindValueByName(from->GetEnum(r, s.from)->name());
      if (value) to->SetEnum(out, s.to, value);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      if (from->HasField(r, s.from)) {
        to->MutableMessage(out, s.to)->CopyFrom(from->GetMessage(r, s.from));
      }
      break;
    default:  // no other kinds in the record; a new one is shown once it is handled here
      break;
  }
}

// Records written before engine_fields kept OpenSearch's indices and version in fields 13 and
// 14 (now reserved; catalogs and manifests still hold them, as unknown fields): shown under
// those names when the Backup has them, as they were.
void ShowFieldsOfOlderRecords(const Record& r, Message* out) {
  const auto& unknown = r.GetReflection()->GetUnknownFields(r);
  if (unknown.empty()) return;
  const Descriptor* d = out->GetDescriptor();
  const auto* refl = out->GetReflection();
  const FieldDescriptor* indices = d->FindFieldByName("indices");
  const FieldDescriptor* version = d->FindFieldByName("opensearch_version");
  const FieldDescriptor* total = d->FindFieldByName("indices_total");
  int64_t count = 0;
  for (int i = 0; i < unknown.field_count(); ++i) {
    const auto& f = unknown.field(i);
    // Bytes from a manifest in the bucket: a string protobuf would refuse to parse back is left
    // out (the page is shown; a client's parser would fail on the whole response).
    if (f.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED ||
        !google::protobuf::internal::IsStructurallyValidUTF8(f.length_delimited())) {
      continue;
    }
    if (f.number() == 13 && indices && indices->is_repeated() &&
        indices->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      refl->AddString(out, indices, f.length_delimited());
      ++count;
    } else if (f.number() == 14 && version && !version->is_repeated() &&
               version->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      refl->SetString(out, version, f.length_delimited());
    }
  }
  if (count > 0 && total && !total->is_repeated() &&
      total->cpp_type() == FieldDescriptor::CPPTYPE_INT64 && refl->GetInt64(*out, total) == 0) {
    refl->SetInt64(out, total, count);
  }
}

}  // namespace

absl::Status ToApiBackup(const Record& r, Message* out) {
  out->Clear();
  if (r.has_engine_fields()) {
    // Of another type (a manifest planted in the bucket, or a record moved between engines) or
    // unreadable: the backup is still shown, without them; one bad record never fails a page.
    const std::string& url = r.engine_fields().type_url();
    if (std::string_view(url).substr(url.rfind('/') + 1) != out->GetDescriptor()->full_name()) {
      common::Log(common::LogLevel::kWarning, "api",
                  absl::StrCat("backup '", r.id(), "' carries fields of ", url, ", not of ",
                               out->GetDescriptor()->full_name(), ": shown without them"));
    } else if (!r.engine_fields().UnpackTo(out)) {
      out->Clear();
      common::Log(common::LogLevel::kWarning, "api",
                  absl::StrCat("the engine fields of backup '", r.id(),
                               "' cannot be read: shown without them"));
    }
  } else {
    ShowFieldsOfOlderRecords(r, out);
  }
  const Plan& plan = PlanFor(out->GetDescriptor());
  for (const Step& s : plan.steps) Copy(r, s, out);
  // The engine's own repeated fields are bounded by the contract as well.
  const auto* refl = out->GetReflection();
  for (const auto& [field, max] : plan.bounded) {
    while (refl->FieldSize(*out, field) > max) refl->RemoveLast(out, field);
  }
  return absl::OkStatus();
}

}  // namespace mdb::api
