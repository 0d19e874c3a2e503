// REST routing derived from the `google.api.http` annotations of the served methods: the proto
// files are the only description of the REST API.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"

namespace mdb::api::rest {

struct RouteMatch {
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::map<std::string, std::string> path_params;  // proto field name -> value (URL-decoded)
  std::string body;                                // "" (no body), "*" or a field name
};

class Router {
 public:
  // Builds the table from every method of `services` that carries a google.api.http rule.
  // InvalidArgument for a template this router cannot serve (a wiring bug, found at start).
  static absl::StatusOr<Router> Build(
      const std::vector<const google::protobuf::ServiceDescriptor*>& services);

  // NotFound if no route has this path; FailedPrecondition-free: a path served under another
  // verb gives MethodNotAllowed via `*allowed` being non-empty.
  std::optional<RouteMatch> Match(const std::string& verb, const std::string& path,
                                  std::string* allowed) const;

  size_t size() const { return routes_.size(); }

 private:
  struct Segment {
    bool variable = false;
    std::string text;  // literal text, or the field name of a variable
  };
  struct Route {
    std::string verb;               // GET, POST, DELETE, PATCH, PUT
    std::vector<Segment> segments;  // path split on '/'
    std::string custom_verb;        // the ":backup" of ".../{cluster_id}:backup", without ':'
    std::string body;
    const google::protobuf::MethodDescriptor* method;
  };
  static bool MatchRoute(const Route& r, const std::vector<std::string>& parts,
                         std::map<std::string, std::string>* params);

  std::vector<Route> routes_;
};

// Percent-decodes a URL component; nullopt if malformed.
std::optional<std::string> UrlDecode(const std::string& s);
// The query string of `target` ("/path?a=1&b=x+y") as decoded names and values ('+' is a space);
// nullopt when an escape is malformed.
std::optional<std::multimap<std::string, std::string>> ParseQuery(const std::string& target);

}  // namespace mdb::api::rest
