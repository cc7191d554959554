// Logging: JSON lines on stdout through an asynchronous spdlog logger, so the event loop never
// waits on the terminal. Plain `spdlog::info(...)` calls become {"ts","level","service","msg"}
// lines; `LogEvent` writes a line with structured fields (request log, audit).
#pragma once

#include <boost/json/object.hpp>

#include <spdlog/common.h>

#include <string>
#include <string_view>

namespace coredb::observability {

inline constexpr std::string_view kServiceName = "core-database-service";

// Installs the JSON-lines default logger. `level` is a LOG_LEVEL value (already validated).
void InitLogging(const std::string& level);
// Flushes and stops the background writer (end of main).
void ShutdownLogging();

// One JSON line: {"ts","level","service","msg": message, ...fields}.
void LogEvent(spdlog::level::level_enum level, std::string_view message, const boost::json::object& fields);
// Whether LogEvent would write at `level` (check before building its fields on a hot path).
bool LogEnabled(spdlog::level::level_enum level);

}  // namespace coredb::observability
