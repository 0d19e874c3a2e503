// Matching works on '/'-separated segments. A custom verb (":backup", ":restore", ":cancel") is
// matched against the end of the last segment, so "{cluster_id}:backup" and "{backup_id}" never
// capture each other. Routes with a custom verb are tried first.
#include "api/rest/router.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/http_rule.h"
#include "google/api/annotations.pb.h"

namespace mdb::api::rest {

std::optional<std::string> UrlDecode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<std::multimap<std::string, std::string>> ParseQuery(const std::string& target) {
  std::multimap<std::string, std::string> out;
  size_t q = target.find('?');
  if (q == std::string::npos) return out;
  for (absl::string_view part : absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
    std::string pair(part);
    std::replace(pair.begin(), pair.end(), '+', ' ');
    size_t eq = pair.find('=');
    auto name = UrlDecode(pair.substr(0, eq));
    auto value = UrlDecode(eq == std::string::npos ? "" : pair.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    out.emplace(std::move(*name), std::move(*value));
  }
  return out;
}

absl::StatusOr<Router> Router::Build(
    const std::vector<const google::protobuf::ServiceDescriptor*>& services) {
  Router router;
  for (const auto* s : services) {
    for (int i = 0; i < s->method_count(); ++i) {
      const auto* m = s->method(i);
      if (!m->options().HasExtension(google::api::http)) continue;
      std::optional<common::HttpBinding> binding = common::HttpBindingOf(m);
      if (!binding) {
        return absl::InvalidArgumentError(absl::StrCat(m->full_name(), ": unsupported http rule"));
      }
      Route r{.verb = binding->verb, .body = binding->body, .method = m};
      std::string path = binding->path;
      // A custom verb follows the last ':' that comes after the last '/' and outside braces.
      size_t slash = path.rfind('/');
      size_t colon = path.rfind(':');
      if (colon != std::string::npos && colon > slash &&
          path.find('}', colon) == std::string::npos) {
        r.custom_verb = path.substr(colon + 1);
        path = path.substr(0, colon);
      }
      for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
        Segment seg;
        if (part.size() > 2 && part.front() == '{' && part.back() == '}') {
          seg.variable = true;
          seg.text = std::string(part.substr(1, part.size() - 2));
          if (seg.text.find_first_of("=*.") != std::string::npos) {
            return absl::InvalidArgumentError(
                absl::StrCat(m->full_name(), ": unsupported path variable '", seg.text, "'"));
          }
        } else {
          seg.text = std::string(part);
        }
        r.segments.push_back(std::move(seg));
      }
      router.routes_.push_back(std::move(r));
    }
  }
  std::stable_sort(router.routes_.begin(), router.routes_.end(),
                   [](const Route& a, const Route& b) {
                     return !a.custom_verb.empty() && b.custom_verb.empty();
                   });
  return router;
}

bool Router::MatchRoute(const Route& r, const std::vector<std::string>& parts,
                        std::map<std::string, std::string>* params) {
  if (parts.size() != r.segments.size()) return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string part = parts[i];
    if (i + 1 == parts.size() && !r.custom_verb.empty()) {
      std::string suffix = ":" + r.custom_verb;
      if (part.size() <= suffix.size() ||
          part.compare(part.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return false;
      }
      part.resize(part.size() - suffix.size());
    }
    const Segment& seg = r.segments[i];
    if (seg.variable) {
      auto decoded = UrlDecode(part);
      if (!decoded || decoded->empty()) return false;
      (*params)[seg.text] = *decoded;
    } else if (seg.text != part) {
      return false;
    }
  }
  return true;
}

std::optional<RouteMatch> Router::Match(const std::string& verb, const std::string& path,
                                        std::string* allowed) const {
  allowed->clear();
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::vector<std::string> parts = absl::StrSplit(path.substr(1), '/');
  for (const Route& r : routes_) {
    std::map<std::string, std::string> params;
    if (!MatchRoute(r, parts, &params)) continue;
    if (r.verb != verb) {
      if (allowed->find(r.verb) == std::string::npos) {
        absl::StrAppend(allowed, allowed->empty() ? "" : ", ", r.verb);
      }
      continue;
    }
    return RouteMatch{.method = r.method, .path_params = std::move(params), .body = r.body};
  }
  return std::nullopt;
}

}  // namespace mdb::api::rest
