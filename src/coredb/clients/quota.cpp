#include "coredb/clients/quota.hpp"

#include <boost/json.hpp>

#include <spdlog/spdlog.h>

namespace coredb::clients {

namespace {

// KEYS: the counters to check (minute and/or day); ARGV[1..n]: their limits, ARGV[n+1..2n]:
// their expiries. Refuses (counting nothing) when a counter is at its limit, else counts in all.
// Returns 0 when admitted, else the 1-based index of the exhausted counter.
constexpr const char* kQuotaScript = R"lua(
local n = #KEYS
for i = 1, n do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if c >= tonumber(ARGV[i]) then return i end
end
for i = 1, n do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[n + i]) end
end
return 0
)lua";

constexpr int kSlackSeconds = 60;  // keys outlive their window a little (clock skew between instances)

}  // namespace

QuotaWindows WindowsAt(std::chrono::system_clock::time_point now) {
  const std::int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  QuotaWindows w;
  w.minute = seconds / 60;
  w.day = seconds / 86400;
  w.minute_left = static_cast<int>(60 - seconds % 60);
  w.day_left = static_cast<int>(86400 - seconds % 86400);
  return w;
}

Error RateLimitedError(const QuotaDecision& decision) {
  Error e(ErrorCode::kRateLimited, std::string("quota exceeded: this client's requests per ") + decision.window +
                                       " are used up; retry in " + std::to_string(decision.retry_after_seconds) + " s");
  e.retry_after_seconds = decision.retry_after_seconds;
  return e;
}

QuotaDecision LocalQuotaLimiter::Check(const std::string& client_id, const Quota& quota) {
  if (!quota.any()) return {};
  const QuotaWindows w = WindowsAt(now_());
  Counters& c = counters_[client_id];
  if (c.minute != w.minute) {
    c.minute = w.minute;
    c.minute_count = 0;
  }
  if (c.day != w.day) {
    c.day = w.day;
    c.day_count = 0;
  }
  if (quota.per_minute && c.minute_count >= *quota.per_minute) return {false, w.minute_left, "minute"};
  if (quota.per_day && c.day_count >= *quota.per_day) return {false, w.day_left, "day"};
  ++c.minute_count;
  ++c.day_count;
  return {};
}

QuotaEnforcer::QuotaEnforcer(KeyValueBackend& redis, CircuitBreakerOptions breaker,
                             std::chrono::milliseconds command_timeout, LocalQuotaLimiter::Now now,
                             CircuitBreaker::Now breaker_now)
    : redis_(redis),
      breaker_(
          [&] {
            breaker.call_timeout = command_timeout;
            return breaker;
          }(),
          std::move(breaker_now)),
      command_timeout_(command_timeout),
      now_(now),
      local_(std::move(now)) {}

boost::asio::awaitable<Result<void>> QuotaEnforcer::Admit(const std::string& client_id, const Quota& quota) {
  if (!quota.any()) co_return Result<void>{};
  auto permit = breaker_.Acquire();
  if (permit) {
    const QuotaWindows w = WindowsAt(now_());
    std::vector<std::string> keys, limits, expiries;
    std::vector<const char*> windows;
    std::vector<int> lefts;
    const std::string base = "__coredb:quota:" + client_id;
    if (quota.per_minute) {
      keys.push_back(base + ":m:" + std::to_string(w.minute));
      limits.push_back(std::to_string(*quota.per_minute));
      expiries.push_back(std::to_string(w.minute_left + kSlackSeconds));
      windows.push_back("minute");
      lefts.push_back(w.minute_left);
    }
    if (quota.per_day) {
      keys.push_back(base + ":d:" + std::to_string(w.day));
      limits.push_back(std::to_string(*quota.per_day));
      expiries.push_back(std::to_string(w.day_left + kSlackSeconds));
      windows.push_back("day");
      lefts.push_back(w.day_left);
    }
    std::vector<std::string> args;
    args.emplace_back("EVAL");
    args.emplace_back(kQuotaScript);
    args.push_back(std::to_string(keys.size()));
    for (auto& k : keys) args.push_back(std::move(k));
    for (auto& l : limits) args.push_back(std::move(l));
    for (auto& e : expiries) args.push_back(std::move(e));
    auto reply = co_await redis_.Command(std::move(args), command_timeout_);
    if (reply && reply->is_int64()) {
      permit->Success();
      ++stats_.redis_checks;
      const std::int64_t exhausted = reply->as_int64();
      if (exhausted == 0) co_return Result<void>{};
      const std::size_t i = static_cast<std::size_t>(exhausted - 1);
      if (i < windows.size()) {
        ++stats_.refused;
        co_return RateLimitedError(QuotaDecision{false, lefts[i], windows[i]});
      }
      co_return Result<void>{};
    }
    if (!reply && reply.error().code == ErrorCode::kQueryTimeout) {
      permit->Timeout();
    } else {
      permit->Failure();
    }
    spdlog::debug("quota: redis unavailable ({}), the per-instance limiter decides",
                  reply ? "unexpected reply" : reply.error().message);
  }
  ++stats_.local_checks;
  const QuotaDecision local = local_.Check(client_id, quota);
  if (!local.allowed) {
    ++stats_.refused;
    co_return RateLimitedError(local);
  }
  co_return Result<void>{};
}

}  // namespace coredb::clients
