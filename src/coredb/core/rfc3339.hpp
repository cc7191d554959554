// Wall-clock times in the API: RFC 3339, UTC, millisecond precision ("2026-11-23T10:00:00.123Z").
#pragma once

#include <chrono>
#include <string>

namespace coredb {

std::string FormatRfc3339(std::chrono::system_clock::time_point time);
inline std::string NowRfc3339() { return FormatRfc3339(std::chrono::system_clock::now()); }

}  // namespace coredb
