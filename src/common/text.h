// Text that came from outside (a source database's error, a reply's reason, echoed input) on its
// way into a stored protobuf string, an API message, a log line or a terminal. Protobuf refuses to
// parse a `string` field that is not UTF-8, so one such byte in a stored record makes the record
// unreadable; a newline in a log line forges the next one; C0 and C1 controls drive terminals.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace mdb::common {

// The most of an error's text a stored record keeps (an operation's error, a drill's result): it
// comes back in every listing that shows the record, and a source's error text can be megabytes.
inline constexpr size_t kMaxStoredMessageBytes = 4096;

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF), or 0.
size_t Utf8SequenceAt(absl::string_view s, size_t i);

// `text` as valid UTF-8 (each byte of a malformed sequence shown as \xNN) and at most about
// `max_bytes`: a longer text is cut at a character and ends "... (cut)".
std::string CleanUtf8(absl::string_view text, size_t max_bytes);

// CleanUtf8 on one line: every C0 control (newlines too), DEL and C1 control (U+0080-U+009F)
// becomes a space, a run of them one space, and no space is left at either end.
std::string OneLine(absl::string_view text, size_t max_bytes);

}  // namespace mdb::common
