#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/text.h"

namespace mdb::common {
namespace {

// A line's message past this is cut (a source's error text can be megabytes).
constexpr size_t kMaxMessageBytes = 16 << 10;

std::atomic<int> g_forced_json{-1};  // -1: the config decides
std::atomic<bool> g_json{false};
std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// A JSON string body. Messages may carry what a source database sent (not always UTF-8): bytes
// that do not form valid UTF-8 are written as \u00XX so that every line stays valid JSON.
void AppendJsonString(std::string* out, absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      absl::StrAppend(out, "\\", std::string(1, static_cast<char>(c)));
      ++i;
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppend(out, absl::StrFormat("\\u%04x", c));
      ++i;
      continue;
    }
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceAt(s, i);
    if (n == 0) {
      absl::StrAppend(out, absl::StrFormat("\\u%04x", c));
      ++i;
      continue;
    }
    out->append(s.data() + i, n);
    i += n;
  }
}

}  // namespace

void ForceLogFormat(bool json) {
  g_forced_json = json ? 1 : 0;
  g_json = json;
}

void SetLogFormat(const LogFormat& format) {
  g_json = g_forced_json.load() >= 0 ? g_forced_json.load() == 1 : format.json;
  g_min_level = static_cast<int>(format.min_level);
}

bool ParseLogLevel(absl::string_view name, LogLevel* level) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    if (name == LevelName(l)) {
      *level = l;
      return true;
    }
  }
  return false;
}

std::string JsonLogLine(int64_t unix_micros, LogLevel level, absl::string_view component,
                        absl::string_view message, const LogContext& context) {
  std::string line =
      absl::StrCat("{\"time\":\"",
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(unix_micros),
                                    absl::UTCTimeZone()),
                   "\",\"level\":\"", LevelName(level), "\",\"component\":\"");
  AppendJsonString(&line, component);
  line += "\"";
  for (auto [key, value] :
       {std::pair{"cluster", context.cluster}, std::pair{"operation", context.operation}}) {
    if (value.empty()) continue;
    absl::StrAppend(&line, ",\"", key, "\":\"");
    AppendJsonString(&line, value);
    line += "\"";
  }
  line += ",\"message\":\"";
  AppendJsonString(&line, message.substr(0, kMaxMessageBytes));
  line += "\"}";
  return line;
}

void Log(LogLevel level, absl::string_view component, absl::string_view message) {
  Log(level, component, message, LogContext{});
}

void Log(LogLevel level, absl::string_view component, absl::string_view message,
         const LogContext& context) {
  if (static_cast<int>(level) < g_min_level.load()) return;
  std::string line;
  if (g_json.load()) {
    line = JsonLogLine(absl::ToUnixMicros(absl::Now()), level, component, message, context);
  } else {
    // As the lines always were: warnings say so; errors speak for themselves.
    // One event a line: what a source sent (an error's text) cannot start a forged line or
    // drive the terminal of whoever reads the log.
    line = absl::StrCat("mdb-backupd: ", level == LogLevel::kWarning ? "warning: " : "",
                        OneLine(message, kMaxMessageBytes));
  }
  line += "\n";
  // One write: lines of concurrent threads never interleave.
  for (size_t done = 0; done < line.size();) {
    ssize_t n = write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
}

void LogPostgresNotice(absl::string_view component, absl::string_view message) {
  // A source database is not trusted to keep its notices short. DETAIL and HINT lines (and
  // whatever a hostile source puts after a newline) stay on this line: a line is one event.
  const std::string text = OneLine(message, 2000);
  const bool warning = absl::StartsWith(text, "WARNING");
  Log(warning ? LogLevel::kWarning : LogLevel::kDebug, component,
      absl::StrCat("PostgreSQL: ", text));
}

}  // namespace mdb::common
