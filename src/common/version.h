// The release both binaries report (`--version`); raised by hand with each release.
#pragma once

namespace mdb::common {

inline constexpr char kVersion[] = "0.8.0";

}  // namespace mdb::common
