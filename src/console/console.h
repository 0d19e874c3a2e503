// The web console's files (src/console/web/), built into the binary so that it needs nothing
// beside it and no network at run time: the REST listener serves them to anyone (they hold no
// data; every read and action of the console is an API call with the user's token).
#pragma once

#include <string_view>
#include <vector>

namespace mdb::console {

struct File {
  std::string_view path;          // "/console/app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;
};

// Every file, the index also as "/console/" and "/console".
const std::vector<File>& Files();

}  // namespace mdb::console
