// The service's log: one line per event on stderr, for people (text, the default:
// "mdb-backupd: warning: <message>") or for log shippers (JSON lines with time, level, component
// and message). Set once at start and again on reload (server.log_format, server.log_level).
// Written here rather than with spdlog (which Debian has): its pattern formatter does not escape
// a message for JSON, and messages carry what source databases send.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace mdb::common {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

struct LogFormat {
  bool json = false;
  LogLevel min_level = LogLevel::kInfo;  // lines below it are dropped
};

// What an event is about, for log shippers to group by: in JSON lines as "cluster" and
// "operation" (left out when empty); text lines say it in their message.
struct LogContext {
  absl::string_view cluster;
  absl::string_view operation;
};

// `mdb-backupd --log-format`: lines in this format whatever the config's log_format says (at
// start and at every reload).
void ForceLogFormat(bool json);

// Thread-safe; lines are written whole (one write each).
void SetLogFormat(const LogFormat& format);
// `component` names the part of the service ("server", "ops", "greenplum"...); shown in JSON.
void Log(LogLevel level, absl::string_view component, absl::string_view message);
void Log(LogLevel level, absl::string_view component, absl::string_view message,
         const LogContext& context);

// "debug", "info", "warning", "error" <-> LogLevel; false for an unknown name.
bool ParseLogLevel(absl::string_view name, LogLevel* level);
// A PostgreSQL server's notice as libpq hands it to a notice processor ("WARNING:  text\n"):
// logged as one line of ours, without the newline that would split it; warnings (wraparound,
// deprecated settings) at warning level, the rest (NOTICE: ... already exists) at debug.
void LogPostgresNotice(absl::string_view component, absl::string_view message);

// The JSON line Log writes for these values (no newline); `unix_micros` is the event's time.
std::string JsonLogLine(int64_t unix_micros, LogLevel level, absl::string_view component,
                        absl::string_view message, const LogContext& context = {});

}  // namespace mdb::common
