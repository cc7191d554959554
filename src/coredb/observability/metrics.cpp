#include "coredb/observability/metrics.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <iterator>

namespace coredb::observability {

namespace {

constexpr std::array<const char*, 7> kMethodNames{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "other"};

std::size_t MethodIndex(std::string_view method) {
  for (std::size_t i = 0; i + 1 < kMethodNames.size(); ++i) {
    if (method == kMethodNames[i]) return i;
  }
  return kMethodNames.size() - 1;
}

// Numbers as Prometheus reads them: integers without a fraction, others shortest round-trip.
std::string Number(double v) { return fmt::format("{}", v); }

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void Family(const char* name, const char* type, const char* help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  // `labels`: already formatted `a="x",b="y"` (may be empty).
  void Sample(std::string_view name, std::string_view labels, double value) {
    if (labels.empty())
      fmt::format_to(std::back_inserter(out_), "{} {}\n", name, Number(value));
    else
      fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, Number(value));
  }
  void Sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    if (labels.empty())
      fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    else
      fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
  }
  void HistogramSeries(const std::string& name, const std::string& labels, const Histogram& h) {
    const std::string sep = labels.empty() ? "" : ",";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += h.counts[i];
      fmt::format_to(std::back_inserter(out_), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                     Number(kLatencyBuckets[i]), cumulative);
    }
    cumulative += h.counts.back();
    fmt::format_to(std::back_inserter(out_), "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, cumulative);
    Sample(name + "_sum", labels, h.sum);
    Sample(name + "_count", labels, h.count);
  }

 private:
  std::string& out_;
};

std::string Label(std::string_view name, std::string_view value) {
  return std::string(name) + "=\"" + EscapeLabelValue(value) + "\"";
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void Histogram::Observe(double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // NaN or negative: count it as instantaneous
  const auto it = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds);
  ++counts[static_cast<std::size_t>(it - kLatencyBuckets.begin())];
  sum += seconds;
  ++count;
}

Metrics::Metrics(std::string version) : version_(std::move(version)), started_(std::chrono::system_clock::now()) {
  routes_.reserve(kMaxRoutes + 1);
  route_index_.reserve(kMaxRoutes + 1);
  statuses_.reserve(kMaxStatuses);
  errors_.reserve(64);
}

Metrics::RouteSeries& Metrics::Route(std::string_view route) {
  if (auto it = route_index_.find(route); it != route_index_.end()) return *routes_[it->second];
  // Route labels come from the route table (templates) or "unmatched": bounded; past the cap
  // everything new shares "other" so a bug elsewhere cannot blow up the series count.
  std::string label = routes_.size() < kMaxRoutes ? std::string(route) : std::string("other");
  if (auto it = route_index_.find(label); it != route_index_.end()) return *routes_[it->second];
  auto series = std::make_unique<RouteSeries>();
  series->route = label;
  route_index_.emplace(std::move(label), routes_.size());
  routes_.push_back(std::move(series));
  return *routes_.back();
}

std::size_t Metrics::StatusIndex(unsigned status) {
  if (status >= status_index_.size()) return kMaxStatuses;
  if (status_index_[status] != 0) return static_cast<std::size_t>(status_index_[status] - 1);
  if (statuses_.size() >= kMaxStatuses) return kMaxStatuses;
  statuses_.push_back(status);
  status_index_[status] = static_cast<std::int16_t>(statuses_.size());
  return statuses_.size() - 1;
}

void Metrics::ObserveRequest(std::string_view route, std::string_view method, unsigned status,
                             std::optional<std::string_view> error_code, std::chrono::nanoseconds duration) {
  RouteSeries& series = Route(route);
  ++series.requests[MethodIndex(method)][StatusIndex(status)];
  series.duration.Observe(std::chrono::duration<double>(duration).count());
  if (error_code) {
    auto it = std::find_if(errors_.begin(), errors_.end(), [&](const auto& e) { return e.first == *error_code; });
    if (it != errors_.end())
      ++it->second;
    else if (errors_.size() < 64)
      errors_.emplace_back(std::string(*error_code), 1);
  }
}

void Metrics::ObserveQuery(Database database, double seconds, const Error* error) {
  QuerySeries& q = queries_[static_cast<std::size_t>(database)];
  q.duration.Observe(seconds);
  if (error != nullptr) {
    ++q.errors;
    if (error->code == ErrorCode::kQueryTimeout) ++q.timeouts;
  }
}

std::string Metrics::Render(const MetricsSnapshot& s) const {
  std::string out;
  out.reserve(16384 + routes_.size() * 2048);
  Writer w(out);

  w.Family("coredb_build_info", "gauge", "Build information (always 1).");
  w.Sample("coredb_build_info", Label("version", version_), std::uint64_t{1});
  w.Family("coredb_start_time_seconds", "gauge", "When this instance started (Unix time).");
  w.Sample("coredb_start_time_seconds", "",
           std::chrono::duration<double>(started_.time_since_epoch()).count());
  w.Family("coredb_ready", "gauge", "1 when /health/ready answers 200.");
  w.Sample("coredb_ready", "", std::uint64_t{s.ready ? 1U : 0U});
  w.Family("coredb_http_connections", "gauge", "Open HTTP connections.");
  w.Sample("coredb_http_connections", "", static_cast<std::uint64_t>(s.http_connections));
  w.Family("coredb_auth_failures_total", "counter", "Presented tokens that were refused (401).");
  w.Sample("coredb_auth_failures_total", "", s.auth_failures);
  w.Family("coredb_auth_throttled_total", "counter",
           "Requests answered 429 without a token lookup: their source failed AUTH_FAILURE_LIMIT times in its window.");
  w.Sample("coredb_auth_throttled_total", "", s.auth_throttled);
  w.Family("coredb_pg_cancel_requests_total", "counter",
           "Cancel requests sent to PostgreSQL (and pgvector) for statements nobody waits for any more, by outcome.");
  w.Sample("coredb_pg_cancel_requests_total", Label("outcome", "delivered"), s.pg_cancels_delivered);
  w.Sample("coredb_pg_cancel_requests_total", Label("outcome", "failed"), s.pg_cancels_failed);
  w.Sample("coredb_pg_cancel_requests_total", Label("outcome", "dropped"), s.pg_cancels_dropped);

  w.Family("coredb_http_requests_total", "counter", "HTTP requests answered, by route template, method and status.");
  for (const auto& r : routes_) {
    for (std::size_t m = 0; m < kMethods; ++m) {
      for (std::size_t i = 0; i <= kMaxStatuses; ++i) {
        const std::uint64_t n = r->requests[m][i];
        if (n == 0) continue;
        const std::string status = i < statuses_.size() ? std::to_string(statuses_[i]) : std::string("other");
        w.Sample("coredb_http_requests_total",
                 Label("route", r->route) + "," + Label("method", kMethodNames[m]) + "," + Label("status", status), n);
      }
    }
  }
  w.Family("coredb_http_request_duration_seconds", "histogram",
           "HTTP request duration (read to written), by route template.");
  for (const auto& r : routes_) w.HistogramSeries("coredb_http_request_duration_seconds", Label("route", r->route), r->duration);

  w.Family("coredb_errors_total", "counter", "Error answers, by error code (API.md Errors; CLIENT_CLOSED: client went away).");
  for (const auto& [code, n] : errors_) w.Sample("coredb_errors_total", Label("code", code), n);

  static constexpr Database kSqlDatabases[] = {Database::kPostgresql, Database::kVector};
  w.Family("coredb_query_duration_seconds", "histogram", "Statement and batch duration (pool wait included), by database.");
  for (Database db : kSqlDatabases) {
    w.HistogramSeries("coredb_query_duration_seconds", Label("database", DatabaseName(db)),
                      queries_[static_cast<std::size_t>(db)].duration);
  }
  w.Family("coredb_query_timeouts_total", "counter",
           "Statements cancelled on the server because they ran past their timeout (504 QUERY_TIMEOUT).");
  for (Database db : kSqlDatabases) {
    w.Sample("coredb_query_timeouts_total", Label("database", DatabaseName(db)),
             queries_[static_cast<std::size_t>(db)].timeouts);
  }
  w.Family("coredb_query_errors_total", "counter", "Statements and batches that failed, by database.");
  for (Database db : kSqlDatabases) {
    w.Sample("coredb_query_errors_total", Label("database", DatabaseName(db)), queries_[static_cast<std::size_t>(db)].errors);
  }

  w.Family("coredb_pool_connections", "gauge",
           "Pool connections by state: active (in use), idle, leased (held by a client lease), waiting (queued acquires).");
  for (const auto& p : s.pools) {
    const std::string db = Label("database", p.database);
    w.Sample("coredb_pool_connections", db + ",state=\"active\"", static_cast<std::uint64_t>(p.active));
    w.Sample("coredb_pool_connections", db + ",state=\"idle\"", static_cast<std::uint64_t>(p.idle));
    w.Sample("coredb_pool_connections", db + ",state=\"leased\"", static_cast<std::uint64_t>(p.leased));
    w.Sample("coredb_pool_connections", db + ",state=\"waiting\"", static_cast<std::uint64_t>(p.waiting));
  }
  w.Family("coredb_pool_size", "gauge", "Open or opening pool connections.");
  for (const auto& p : s.pools) w.Sample("coredb_pool_size", Label("database", p.database), static_cast<std::uint64_t>(p.size));
  w.Family("coredb_pool_max", "gauge", "Pool size limit.");
  for (const auto& p : s.pools) w.Sample("coredb_pool_max", Label("database", p.database), static_cast<std::uint64_t>(p.max));
  w.Family("coredb_pool_utilization_ratio", "gauge", "Connections in use / pool max.");
  for (const auto& p : s.pools) w.Sample("coredb_pool_utilization_ratio", Label("database", p.database), p.utilization);
  w.Family("coredb_pool_acquire_timeouts_total", "counter", "Acquires that found no connection in time (POOL_TIMEOUT).");
  for (const auto& p : s.pools) w.Sample("coredb_pool_acquire_timeouts_total", Label("database", p.database), p.timeouts_total);
  w.Family("coredb_pool_connections_broken_total", "counter",
           "Connections found broken (lost, server restarted) and closed; the pool opens replacements on demand.");
  for (const auto& p : s.pools) {
    if (p.broken_total) w.Sample("coredb_pool_connections_broken_total", Label("database", p.database), *p.broken_total);
  }
  w.Family("coredb_pool_session_resets_total", "counter",
           "Pooled connections reset (DISCARD ALL) before use because another client's statements ran on them "
           "last; high when many clients share a small pool.");
  for (const auto& p : s.pools) {
    if (p.session_resets_total) {
      w.Sample("coredb_pool_session_resets_total", Label("database", p.database), *p.session_resets_total);
    }
  }
  w.Family("coredb_leases_expired_total", "counter", "Leases and transactions reclaimed because they expired (leaks).");
  for (const auto& p : s.pools) w.Sample("coredb_leases_expired_total", Label("database", p.database), p.expired_total);

  w.Family("coredb_cache_requests_total", "counter", "Cache reads by result (error: the cache was unavailable).");
  w.Sample("coredb_cache_requests_total", "result=\"hit\"", s.cache_hits);
  w.Sample("coredb_cache_requests_total", "result=\"miss\"", s.cache_misses);
  w.Sample("coredb_cache_requests_total", "result=\"error\"", s.cache_errors);
  w.Family("coredb_cache_loads_total", "counter", "Loader runs of read-through caching (misses and bypasses).");
  w.Sample("coredb_cache_loads_total", "", s.cache_loads);
  w.Family("coredb_cache_load_errors_total", "counter", "Loader runs that failed.");
  w.Sample("coredb_cache_load_errors_total", "", s.cache_load_errors);

  w.Family("coredb_circuit_breaker_state", "gauge", "Circuit breaker state: 0 closed, 1 half-open, 2 open.");
  for (const auto& b : s.breakers) {
    w.Sample("coredb_circuit_breaker_state", Label("backend", b.backend), static_cast<std::uint64_t>(b.state));
  }
  w.Family("coredb_circuit_breaker_transitions_total", "counter", "Circuit breaker transitions, by the state entered.");
  for (const auto& b : s.breakers) {
    const std::string l = Label("backend", b.backend);
    w.Sample("coredb_circuit_breaker_transitions_total", l + ",to=\"open\"", b.stats.opened_total);
    w.Sample("coredb_circuit_breaker_transitions_total", l + ",to=\"half_open\"", b.stats.half_opened_total);
    w.Sample("coredb_circuit_breaker_transitions_total", l + ",to=\"closed\"", b.stats.closed_total);
  }
  w.Family("coredb_circuit_breaker_calls_total", "counter",
           "Calls through a circuit breaker by result (rejected: failed fast while open).");
  for (const auto& b : s.breakers) {
    const std::string l = Label("backend", b.backend);
    w.Sample("coredb_circuit_breaker_calls_total", l + ",result=\"success\"", b.stats.successes_total);
    w.Sample("coredb_circuit_breaker_calls_total", l + ",result=\"failure\"",
             b.stats.failures_total - std::min(b.stats.failures_total, b.stats.timeouts_total));
    w.Sample("coredb_circuit_breaker_calls_total", l + ",result=\"timeout\"", b.stats.timeouts_total);
    w.Sample("coredb_circuit_breaker_calls_total", l + ",result=\"rejected\"", b.stats.rejected_total);
  }

  w.Family("coredb_sagas_total", "counter", "Sagas by outcome (started; then completed, compensated or failed; recovered: finished by the sweep).");
  w.Sample("coredb_sagas_total", "status=\"started\"", s.sagas_started);
  w.Sample("coredb_sagas_total", "status=\"completed\"", s.sagas_completed);
  w.Sample("coredb_sagas_total", "status=\"compensated\"", s.sagas_compensated);
  w.Sample("coredb_sagas_total", "status=\"failed\"", s.sagas_failed);
  w.Sample("coredb_sagas_total", "status=\"recovered\"", s.sagas_recovered);
  return out;
}

}  // namespace coredb::observability
