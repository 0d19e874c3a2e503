#include "cli/point_in_time.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/time_util.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "mdb_backup/v1/recovery_service.pb.h"

namespace mdb::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;

const MethodDescriptor* FindMethod(const common::EngineInfo& engine, const std::string& service,
                                   const std::string& method) {
  for (const auto* s : engine.api_services()) {
    if (s->name() == service) return s->FindMethodByName(method);
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<absl::Time> LatestOfWindow(const std::string& window_json) {
  mdb_backup::v1::RecoveryWindow w;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(window_json, &w, options).ok()) {
    return absl::DataLossError("the server's recovery window is not the expected JSON");
  }
  if (!w.point_in_time() || !w.has_latest()) {
    return absl::FailedPreconditionError(
        "the cluster has no latest moment to restore to (no backup yet, or its engine restores "
        "backups to their own point only); mdb-backup cluster window ID shows it");
  }
  return common::FromProto(w.latest());
}

absl::StatusOr<absl::Time> ParsePointInTime(const std::string& text) {
  absl::Time t;
  std::string err;
  bool parsed = false;
  // absl::ParseTime also takes "infinite-future"; a restore needs an instant a Timestamp holds.
  if (!absl::StrContains(text, "infinite")) {
    parsed = absl::ParseTime(absl::RFC3339_full, text, &t, &err);
  }
  // "YYYY-MM-DD HH:MM:SS[.fff] ZONE", ZONE an offset (+03:00) or a tz database Area/City name.
  std::vector<std::string> parts = absl::StrSplit(text, ' ', absl::SkipEmpty());
  if (!parsed && parts.size() == 3) {
    const std::string local = parts[0] + " " + parts[1];
    parsed = absl::ParseTime("%Y-%m-%d %H:%M:%E*S %Ez", local + " " + parts[2], &t, &err);
    absl::TimeZone zone;
    // Abbreviations (CET is CEST in summer) and Etc/GMT+3 (which is UTC-3) mislead; a city
    // names what the person means.
    const bool city = absl::StrContains(parts[2], '/') && !absl::StartsWith(parts[2], "Etc/");
    absl::Time ignored;
    if (!parsed && (city || parts[2] == "UTC") && absl::LoadTimeZone(parts[2], &zone) &&
        absl::ParseTime("%Y-%m-%d %H:%M:%E*S", local, absl::UTCTimeZone(), &ignored, &err)) {
      // The wall-clock time in that zone: refused when the clocks skip it or show it twice
      // (a daylight-saving change), rather than picking one of two instants an hour apart.
      absl::Duration fraction;
      absl::CivilSecond cs = absl::ToCivilSecond(ignored, absl::UTCTimeZone());
      fraction = ignored - absl::FromCivil(cs, absl::UTCTimeZone());
      absl::TimeZone::TimeInfo at = zone.At(cs);
      if (at.kind != absl::TimeZone::TimeInfo::UNIQUE) {
        return absl::InvalidArgumentError(absl::StrCat(
            "time '", text, "' ",
            at.kind == absl::TimeZone::TimeInfo::SKIPPED ? "does not exist" : "happens twice",
            " in ", parts[2], " (a daylight-saving change): give it with its UTC offset"));
      }
      t = at.pre + fraction;
      parsed = true;
    }
  }
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "time '", text,
        "' is not understood: give RFC 3339 (2026-12-04T05:00:00Z, 2026-12-04T08:00:00+03:00) "
        "or a local time with its zone (\"2026-12-04 08:00:00 Europe/Moscow\", \"2026-12-04 "
        "08:00:00 +03:00\")"));
  }
  // A protobuf Timestamp (and the service's nanosecond clock) holds 1970..2262.
  if (t < absl::UnixEpoch() || t > absl::FromUnixSeconds(int64_t{1} << 33)) {
    return absl::InvalidArgumentError(
        absl::StrCat("time '", text, "' is outside what a backup can be restored to"));
  }
  return t;
}

absl::StatusOr<std::string> PointInTimeMember(const common::EngineInfo& engine, absl::Time t) {
  const MethodDescriptor* restore = FindMethod(engine, "ClusterService", "Restore");
  const Descriptor* req = restore ? restore->input_type() : nullptr;
  const FieldDescriptor* time = req ? req->FindFieldByName("time") : nullptr;
  if (time && time->message_type() &&
      time->message_type()->full_name() == "google.protobuf.Timestamp") {
    return absl::StrCat("\"", time->json_name(), "\":\"",
                        google::protobuf::util::TimeUtil::ToString(common::ToProto(t)), "\"");
  }
  const FieldDescriptor* spec = req ? req->FindFieldByName("recovery_target_spec") : nullptr;
  const FieldDescriptor* seconds =
      spec && spec->message_type() ? spec->message_type()->FindFieldByName("timestamp") : nullptr;
  if (seconds) {
    if (t != absl::FromUnixSeconds(absl::ToUnixSeconds(t))) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(engine.name), " restores to whole seconds: give a time without a fraction"));
    }
    return absl::StrCat("\"", spec->json_name(), "\":{\"", seconds->json_name(), "\":\"",
                        absl::ToUnixSeconds(t), "\"}");
  }
  return absl::InvalidArgumentError(absl::StrCat(
      std::string(engine.name),
      " backups restore to their own consistent point; --time is not available for this engine"));
}

absl::StatusOr<std::optional<std::string>> NewestBackupBefore(const common::EngineInfo& engine,
                                                              const std::string& list_json,
                                                              absl::Time t,
                                                              std::string* next_page_token) {
  const MethodDescriptor* list = FindMethod(engine, "ClusterService", "ListBackups");
  if (!list) {
    return absl::NotFoundError(absl::StrCat(std::string(engine.name), " lists no backups"));
  }
  std::unique_ptr<google::protobuf::Message> page(
      google::protobuf::MessageFactory::generated_factory()
          ->GetPrototype(list->output_type())
          ->New());
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(list_json, page.get(), options).ok()) {
    return absl::InvalidArgumentError("the server's answer is not a list of backups");
  }
  const auto* r = page->GetReflection();
  const FieldDescriptor* backups = list->output_type()->FindFieldByName("backups");
  const FieldDescriptor* token = list->output_type()->FindFieldByName("next_page_token");
  *next_page_token = token ? r->GetString(*page, token) : "";
  if (!backups || !backups->message_type()) return absl::InternalError("no backups field");
  const FieldDescriptor* id = backups->message_type()->FindFieldByName("id");
  const FieldDescriptor* created = backups->message_type()->FindFieldByName("created_at");
  if (!id || !created) return absl::InternalError("backups without id or created_at");
  // Newest first: the first one completed by `t` is the newest such.
  for (int i = 0; i < r->FieldSize(*page, backups); ++i) {
    const auto& b = r->GetRepeatedMessage(*page, backups, i);
    google::protobuf::Timestamp ts;
    ts.CopyFrom(b.GetReflection()->GetMessage(b, created));
    if (common::FromProto(ts) <= t) return b.GetReflection()->GetString(b, id);
  }
  return std::optional<std::string>();
}

absl::StatusOr<std::string> RestoreOptionsMember(const common::EngineInfo& engine,
                                                 const RestoreScope& scope) {
  const MethodDescriptor* restore = FindMethod(engine, "ClusterService", "Restore");
  const Descriptor* req = restore ? restore->input_type() : nullptr;
  const FieldDescriptor* field = req ? req->FindFieldByName("restore_options") : nullptr;
  if (!field || !field->message_type()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(engine.name),
                     " backups are restored whole: leave out --indices, "
                     "--rename-pattern, --rename-replacement and --global-state"));
  }
  std::unique_ptr<google::protobuf::Message> options(
      google::protobuf::MessageFactory::generated_factory()
          ->GetPrototype(field->message_type())
          ->New());
  const auto* d = options->GetDescriptor();
  const auto* r = options->GetReflection();
  for (const auto& i : scope.indices) r->AddString(options.get(), d->FindFieldByName("indices"), i);
  r->SetString(options.get(), d->FindFieldByName("rename_pattern"), scope.rename_pattern);
  r->SetString(options.get(), d->FindFieldByName("rename_replacement"), scope.rename_replacement);
  r->SetBool(options.get(), d->FindFieldByName("include_global_state"), scope.global_state);
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(*options, &json).ok()) {
    return absl::InternalError("restore options could not be written as JSON");
  }
  return absl::StrCat("\"", field->json_name(), "\":", json);
}

}  // namespace mdb::cli
