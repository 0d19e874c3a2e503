// Validation semantics follow the contract (api-contract.md 0.2): length "<=50" = at most 50
// characters, value "0-1000" = inclusive range, size "<=64" = at most 64 entries, required on a
// string = non-empty, on a message = present, on an enum = not the zero value.
#include "api/validation.h"

#include <re2/re2.h>

#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "yandex/cloud/validation.pb.h"

namespace mdb::api {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// An inclusive range parsed from "<=N", "<N", ">=N", ">N", "N-M" or "N".
struct Range {
  int64_t min = INT64_MIN;
  int64_t max = INT64_MAX;
  bool Contains(int64_t v) const { return v >= min && v <= max; }
};

bool ParseRange(const std::string& spec, Range* r) {
  int64_t a, b;
  if (spec.rfind("<=", 0) == 0) return absl::SimpleAtoi(spec.substr(2), &r->max);
  if (spec.rfind(">=", 0) == 0) return absl::SimpleAtoi(spec.substr(2), &r->min);
  if (spec.rfind("<", 0) == 0 && absl::SimpleAtoi(spec.substr(1), &a)) return r->max = a - 1, true;
  if (spec.rfind(">", 0) == 0 && absl::SimpleAtoi(spec.substr(1), &a)) return r->min = a + 1, true;
  size_t dash = spec.find('-', 1);
  if (dash != std::string::npos && absl::SimpleAtoi(spec.substr(0, dash), &a) &&
      absl::SimpleAtoi(spec.substr(dash + 1), &b)) {
    r->min = a;
    r->max = b;
    return true;
  }
  if (absl::SimpleAtoi(spec, &a)) return r->min = r->max = a, true;
  return false;
}

int64_t Utf8Length(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Compiled patterns are cached: the set is small and fixed by the protos.
const RE2& Pattern(const std::string& pattern) {
  static std::mutex mu;
  static auto* cache = new std::map<std::string, std::unique_ptr<RE2>>();
  std::lock_guard<std::mutex> lock(mu);
  auto& re = (*cache)[pattern];
  if (!re) re = std::make_unique<RE2>(pattern, RE2::Quiet);
  return *re;
}

absl::Status Invalid(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("invalid '", path, "': ", what));
}

absl::Status CheckString(const std::string& path, const std::string& v, const std::string& length,
                         const std::string& pattern) {
  if (!length.empty()) {
    Range r;
    if (ParseRange(length, &r) && !r.Contains(Utf8Length(v))) {
      return Invalid(path,
                     absl::StrCat(Utf8Length(v), " characters, the allowed length is ", length));
    }
  }
  if (!pattern.empty()) {
    const RE2& re = Pattern(pattern);
    if (re.ok() && !RE2::FullMatch(v, re)) {
      return Invalid(path, absl::StrCat(Quoted(v), " does not match the pattern ", pattern));
    }
  }
  return absl::OkStatus();
}

// proto3 enums are open: a number the contract does not define (environment: 99) parses and
// would reach the handlers as a value no code expects.
absl::Status CheckEnum(const std::string& path, const FieldDescriptor* f, int value) {
  if (f->enum_type()->FindValueByNumber(value) != nullptr) return absl::OkStatus();
  return Invalid(path, absl::StrCat(value, " is not a value of ", f->enum_type()->name()));
}

absl::Status ValidateMessage(const Message& m, const std::string& prefix);

absl::Status ValidateField(const Message& m, const FieldDescriptor* f, const std::string& path) {
  const Reflection* r = m.GetReflection();
  const auto& opts = f->options();
  const bool required = opts.GetExtension(yandex::cloud::required);
  const std::string& length = opts.GetExtension(yandex::cloud::length);
  const std::string& pattern = opts.GetExtension(yandex::cloud::pattern);
  const std::string& value = opts.GetExtension(yandex::cloud::value);
  const std::string& size = opts.GetExtension(yandex::cloud::size);

  if (f->is_map()) {
    int n = r->FieldSize(m, f);
    Range sr;
    if (!size.empty() && ParseRange(size, &sr) && !sr.Contains(n)) {
      return Invalid(path, absl::StrCat(n, " entries, the allowed number is ", size));
    }
    const auto& key_spec = opts.GetExtension(yandex::cloud::map_key);
    const FieldDescriptor* kf = f->message_type()->map_key();
    const FieldDescriptor* vf = f->message_type()->map_value();
    for (int i = 0; i < n; ++i) {
      const Message& entry = r->GetRepeatedMessage(m, f, i);
      const Reflection* er = entry.GetReflection();
      if (kf->cpp_type() != FieldDescriptor::CPPTYPE_STRING) continue;
      std::string key = er->GetString(entry, kf);
      std::string kpath = absl::StrCat(path, "[", Quoted(key), "]");
      RETURN_IF_ERROR(CheckString(absl::StrCat(path, " key ", Quoted(key)), key, key_spec.length(),
                                  key_spec.pattern()));
      if (vf->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        RETURN_IF_ERROR(CheckString(kpath, er->GetString(entry, vf), length, pattern));
      }
    }
    return absl::OkStatus();
  }

  if (f->is_repeated()) {
    int n = r->FieldSize(m, f);
    if (required && n == 0) return Invalid(path, "at least one value is required");
    Range sr;
    if (!size.empty() && ParseRange(size, &sr) && !sr.Contains(n)) {
      return Invalid(path, absl::StrCat(n, " values, the allowed number is ", size));
    }
    for (int i = 0; i < n; ++i) {
      std::string ipath = absl::StrCat(path, "[", i, "]");
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        RETURN_IF_ERROR(CheckString(ipath, r->GetRepeatedString(m, f, i), length, pattern));
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        RETURN_IF_ERROR(ValidateMessage(r->GetRepeatedMessage(m, f, i), ipath + "."));
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
        RETURN_IF_ERROR(CheckEnum(ipath, f, r->GetRepeatedEnumValue(m, f, i)));
      }
    }
    return absl::OkStatus();
  }

  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string v = r->GetString(m, f);
      if (required && v.empty()) return Invalid(path, "a value is required");
      if (v.empty()) return absl::OkStatus();
      return CheckString(path, v, length, pattern);
    }
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_INT32: {
      int64_t v =
          f->cpp_type() == FieldDescriptor::CPPTYPE_INT64 ? r->GetInt64(m, f) : r->GetInt32(m, f);
      if (required && v == 0) return Invalid(path, "a non-zero value is required");
      Range vr;
      if (!value.empty() && ParseRange(value, &vr) && !vr.Contains(v) &&
          !(v == 0 && !required && vr.min > 0)) {
        return Invalid(path, absl::StrCat(v, " is outside the allowed range ", value));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM:
      if (required && r->GetEnumValue(m, f) == 0) {
        return Invalid(path, absl::StrCat("a value is required (one of the ",
                                          f->enum_type()->name(), " values)"));
      }
      return CheckEnum(path, f, r->GetEnumValue(m, f));
    case FieldDescriptor::CPPTYPE_MESSAGE:
      if (!r->HasField(m, f)) {
        return required ? Invalid(path, "a value is required") : absl::OkStatus();
      }
      return ValidateMessage(r->GetMessage(m, f), path + ".");
    default:
      return absl::OkStatus();
  }
}

absl::Status ValidateMessage(const Message& m, const std::string& prefix) {
  const auto* d = m.GetDescriptor();
  // Well-known types (Timestamp, wrappers) carry no annotations and need no walk.
  if (d->file()->package() == "google.protobuf") return absl::OkStatus();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    RETURN_IF_ERROR(ValidateField(m, f, prefix + f->name()));
  }
  for (int i = 0; i < d->oneof_decl_count(); ++i) {
    const auto* o = d->oneof_decl(i);
    if (o->options().GetExtension(yandex::cloud::exactly_one) &&
        !m.GetReflection()->HasOneof(m, o)) {
      return Invalid(prefix + o->name(), "exactly one of its fields must be set");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Validate(const Message& message) { return ValidateMessage(message, ""); }

int64_t MaxEntries(const FieldDescriptor* field) {
  Range r;
  const std::string& size = field->options().GetExtension(yandex::cloud::size);
  return !size.empty() && ParseRange(size, &r) ? r.max : INT64_MAX;
}

std::string Quoted(std::string_view input) {
  if (input.size() <= 64) return absl::StrCat("'", std::string(input), "'");
  size_t n = 61;
  while (n > 0 && (static_cast<unsigned char>(input[n]) & 0xC0) == 0x80) --n;  // UTF-8 boundary
  return absl::StrCat("'", std::string(input.substr(0, n)), "...'");
}

}  // namespace mdb::api
