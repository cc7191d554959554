#include "coredb/core/rfc3339.hpp"

#include <cstdio>
#include <ctime>

namespace coredb {

std::string FormatRfc3339(std::chrono::system_clock::time_point time) {
  const auto ms_since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(ms_since_epoch / 1000);
  auto ms = ms_since_epoch % 1000;
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace coredb
