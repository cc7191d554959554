// Prometheus metrics (text exposition format 0.0.4) for GET /metrics.
//
// Two kinds of series. What only the HTTP layer and the query path see (requests by route
// template/method/status, latency histograms, errors by code, query durations and timeouts) is
// counted here, in plain counters: the event loop is one thread, so no atomics; a series' storage
// is allocated the first time its route (bounded: route templates, `unmatched`, at most
// kMaxRoutes) or status (at most kMaxStatuses) is seen, never per increment. What other components
// already count (pool, lease, cache, breaker and saga stats) is read from them at scrape time
// through a MetricsSnapshot and never counted twice.
#pragma once

#include "coredb/core/circuit_breaker.hpp"
#include "coredb/core/error.hpp"
#include "coredb/core/ports.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace coredb::observability {

// Upper bounds (seconds) of the latency histograms: fine below 50 ms (the P95 target), coarse above.
inline constexpr std::array<double, 13> kLatencyBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                        0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

struct Histogram {
  std::array<std::uint64_t, kLatencyBuckets.size() + 1> counts{};  // per bucket (not cumulative); last: +Inf
  double sum = 0;
  std::uint64_t count = 0;
  void Observe(double seconds);
};

// Read at scrape time from the components that own the numbers.
struct PoolSnapshot {
  std::string database;  // "postgresql", "redis", "vector"
  std::size_t max = 0, size = 0, active = 0, idle = 0, leased = 0, waiting = 0;
  double utilization = 0;
  std::uint64_t expired_total = 0, timeouts_total = 0;
  std::optional<std::uint64_t> broken_total;  // connections found broken and replaced (PostgreSQL pools)
  // Connections reset before use because another client's SQL ran on them last (PostgreSQL pools).
  std::optional<std::uint64_t> session_resets_total;
};
struct BreakerSnapshot {
  std::string backend;  // "postgresql", "redis", "vector"
  BreakerState state = BreakerState::kClosed;
  CircuitBreakerStats stats;
};
struct MetricsSnapshot {
  std::vector<PoolSnapshot> pools;
  std::vector<BreakerSnapshot> breakers;
  std::uint64_t cache_hits = 0, cache_misses = 0, cache_errors = 0, cache_loads = 0, cache_load_errors = 0;
  std::uint64_t sagas_started = 0, sagas_completed = 0, sagas_compensated = 0, sagas_failed = 0,
                sagas_recovered = 0;
  std::size_t http_connections = 0;
  // Failed authentications, and requests refused 429 without a lookup (AUTH_FAILURE_LIMIT).
  std::uint64_t auth_failures = 0, auth_throttled = 0;
  // PostgreSQL cancel requests (statements of callers that went away, timed out, or overflowed).
  std::uint64_t pg_cancels_delivered = 0, pg_cancels_failed = 0, pg_cancels_dropped = 0;
  bool ready = false;
};

class Metrics {
 public:
  static constexpr std::size_t kMaxRoutes = 256;   // route templates; more share the label "other"
  static constexpr std::size_t kMaxStatuses = 48;  // distinct status codes; more share the label "other"

  explicit Metrics(std::string version);

  // One answered request (the server's RequestObserver). `route` is the template or "unmatched".
  void ObserveRequest(std::string_view route, std::string_view method, unsigned status,
                      std::optional<std::string_view> error_code, std::chrono::nanoseconds duration);
  // One statement or batch that ran on `database` (PgBackend's observer).
  void ObserveQuery(Database database, double seconds, const Error* error);

  // The exposition: everything counted here plus `snapshot`.
  std::string Render(const MetricsSnapshot& snapshot) const;

 private:
  static constexpr std::size_t kMethods = 7;  // GET HEAD POST PUT PATCH DELETE other
  struct RouteSeries {
    std::string route;
    std::array<std::array<std::uint64_t, kMaxStatuses + 1>, kMethods> requests{};  // [method][status index]
    Histogram duration;
  };
  struct QuerySeries {
    Histogram duration;
    std::uint64_t timeouts = 0;
    std::uint64_t errors = 0;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  RouteSeries& Route(std::string_view route);
  std::size_t StatusIndex(unsigned status);

  std::string version_;
  std::chrono::system_clock::time_point started_;
  std::vector<std::unique_ptr<RouteSeries>> routes_;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> route_index_;
  std::array<std::int16_t, 600> status_index_{};  // status → index + 1 (0: not seen yet)
  std::vector<unsigned> statuses_;                 // index → status
  std::vector<std::pair<std::string, std::uint64_t>> errors_;  // by error code name
  std::array<QuerySeries, 3> queries_{};                       // by Database
};

// The exposition's escaping of a label value (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view value);

}  // namespace coredb::observability
