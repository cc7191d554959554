// Per-client quotas (issue 6 item 3): requests per minute and per day, in fixed windows of the
// UTC clock (the minute, the day). Counted in Redis (the cache database, keys
// "__coredb:quota:<client id>:m:<minute>" and ":d:<day>"), by one Lua script that checks both
// windows and counts the request in both only when it is admitted: atomic, one round trip, and
// none at all for a client without quotas.
//
// When Redis is down, slow or its breaker open, the per-instance LocalQuotaLimiter takes over with
// the same limits: neither everything admitted nor everything refused. Its counts start from zero
// when it takes over, and with N instances a client can get up to N × its quota while Redis is
// away (each instance counts alone).
//
// Over quota: 429 RATE_LIMITED with Retry-After = the seconds left in the exceeded window.
#pragma once

#include "coredb/core/circuit_breaker.hpp"
#include "coredb/core/ports.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

namespace coredb::clients {

struct Quota {
  std::optional<std::int64_t> per_minute;
  std::optional<std::int64_t> per_day;
  bool any() const { return per_minute.has_value() || per_day.has_value(); }
};

struct QuotaDecision {
  bool allowed = true;
  int retry_after_seconds = 0;  // when refused: seconds to the end of the exceeded window (≥ 1)
  const char* window = "";      // "minute" or "day" when refused
};

// The windows a time falls in, and how long until each ends.
struct QuotaWindows {
  std::int64_t minute = 0;  // minutes since the epoch
  std::int64_t day = 0;     // UTC days since the epoch
  int minute_left = 60;     // seconds, 1..60
  int day_left = 86400;     // seconds, 1..86400
};
QuotaWindows WindowsAt(std::chrono::system_clock::time_point now);

// The 429 for a refused decision.
Error RateLimitedError(const QuotaDecision& decision);

// The in-memory limiter of one instance (single-threaded; injectable clock for tests).
class LocalQuotaLimiter {
 public:
  using Now = std::function<std::chrono::system_clock::time_point()>;
  explicit LocalQuotaLimiter(Now now = &std::chrono::system_clock::now) : now_(std::move(now)) {}

  // Admits (and counts) the request, or refuses it without counting.
  QuotaDecision Check(const std::string& client_id, const Quota& quota);
  void Forget(const std::string& client_id) { counters_.erase(client_id); }

 private:
  struct Counters {
    std::int64_t minute = -1, day = -1;
    std::int64_t minute_count = 0, day_count = 0;
  };
  Now now_;
  std::unordered_map<std::string, Counters> counters_;
};

struct QuotaStats {
  std::uint64_t redis_checks = 0;
  std::uint64_t local_checks = 0;  // decided by the fallback limiter
  std::uint64_t refused = 0;
};

class QuotaEnforcer {
 public:
  QuotaEnforcer(KeyValueBackend& redis, CircuitBreakerOptions breaker, std::chrono::milliseconds command_timeout,
                LocalQuotaLimiter::Now now = &std::chrono::system_clock::now,
                CircuitBreaker::Now breaker_now = &CircuitBreaker::Clock::now);

  // Success, or 429 RATE_LIMITED with Retry-After. Never fails for a Redis problem.
  boost::asio::awaitable<Result<void>> Admit(const std::string& client_id, const Quota& quota);

  const QuotaStats& stats() const { return stats_; }
  const CircuitBreaker& breaker() const { return breaker_; }

 private:
  KeyValueBackend& redis_;
  CircuitBreaker breaker_;
  std::chrono::milliseconds command_timeout_;
  LocalQuotaLimiter::Now now_;
  LocalQuotaLimiter local_;
  QuotaStats stats_;
};

}  // namespace coredb::clients
