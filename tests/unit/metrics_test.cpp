#include "coredb/observability/metrics.hpp"
#include "support/prometheus_text.hpp"

#include <gtest/gtest.h>

namespace coredb::observability {
namespace {

using coredb::testing::ParsePrometheusText;
using namespace std::chrono_literals;

MetricsSnapshot SomeSnapshot() {
  MetricsSnapshot s;
  PoolSnapshot pg;
  pg.database = "postgresql";
  pg.max = 20;
  pg.size = 4;
  pg.active = 3;
  pg.idle = 1;
  pg.leased = 2;
  pg.waiting = 5;
  pg.utilization = 0.15;
  pg.expired_total = 7;
  pg.broken_total = 2;
  s.pools.push_back(pg);
  s.breakers.push_back({"postgresql", BreakerState::kOpen, CircuitBreakerStats{10, 6, 1, 4, 2, 1, 1}});
  s.cache_hits = 11;
  s.cache_misses = 3;
  s.cache_errors = 1;
  s.sagas_failed = 2;
  return s;
}

TEST(Metrics, TheExpositionIsValidAndHoldsTheContractSeries) {
  Metrics m("1.2.3");
  m.ObserveRequest("/api/v1/query", "POST", 200, std::nullopt, 3ms);
  m.ObserveRequest("/api/v1/query", "POST", 200, std::nullopt, 30ms);
  m.ObserveRequest("/api/v1/query", "POST", 503, "CIRCUIT_OPEN", 1ms);
  m.ObserveRequest("unmatched", "GET", 404, "NOT_FOUND", 100us);
  m.ObserveRequest("/api/v1/cache/{key}", "BREW", 405, "METHOD_NOT_ALLOWED", 100us);
  Error timeout(ErrorCode::kQueryTimeout, "cancelled");
  m.ObserveQuery(Database::kPostgresql, 0.004, nullptr);
  m.ObserveQuery(Database::kPostgresql, 1.5, &timeout);

  const std::string text = m.Render(SomeSnapshot());
  auto p = ParsePrometheusText(text);
  ASSERT_TRUE(p.problems.empty()) << p.problems[0] << "\n" << text;

  EXPECT_EQ(p.Value("coredb_http_requests_total", {{"route", "/api/v1/query"}, {"method", "POST"}, {"status", "200"}}), 2);
  EXPECT_EQ(p.Value("coredb_http_requests_total", {{"route", "/api/v1/query"}, {"status", "503"}}), 1);
  EXPECT_EQ(p.Value("coredb_http_requests_total", {{"route", "unmatched"}, {"status", "404"}}), 1);
  EXPECT_EQ(p.Value("coredb_http_requests_total", {{"method", "other"}}), 1);
  EXPECT_EQ(p.Value("coredb_http_request_duration_seconds_count", {{"route", "/api/v1/query"}}), 3);
  // 3 ms and 1 ms are under 5 ms; 30 ms is not.
  EXPECT_EQ(p.Value("coredb_http_request_duration_seconds_bucket", {{"route", "/api/v1/query"}, {"le", "0.005"}}), 2);
  EXPECT_EQ(p.Value("coredb_http_request_duration_seconds_bucket", {{"route", "/api/v1/query"}, {"le", "0.05"}}), 3);
  EXPECT_EQ(p.Value("coredb_errors_total", {{"code", "CIRCUIT_OPEN"}}), 1);
  EXPECT_EQ(p.Value("coredb_query_duration_seconds_count", {{"database", "postgresql"}}), 2);
  EXPECT_EQ(p.Value("coredb_query_duration_seconds_count", {{"database", "vector"}}), 0);
  EXPECT_EQ(p.Value("coredb_query_timeouts_total", {{"database", "postgresql"}}), 1);
  EXPECT_EQ(p.Value("coredb_pool_connections", {{"database", "postgresql"}, {"state", "leased"}}), 2);
  EXPECT_EQ(p.Value("coredb_pool_connections", {{"database", "postgresql"}, {"state", "waiting"}}), 5);
  EXPECT_EQ(p.Value("coredb_pool_max", {{"database", "postgresql"}}), 20);
  EXPECT_EQ(p.Value("coredb_pool_utilization_ratio", {{"database", "postgresql"}}), 0.15);
  EXPECT_EQ(p.Value("coredb_leases_expired_total", {{"database", "postgresql"}}), 7);
  EXPECT_EQ(p.Value("coredb_cache_requests_total", {{"result", "hit"}}), 11);
  EXPECT_EQ(p.Value("coredb_cache_requests_total", {{"result", "error"}}), 1);
  EXPECT_EQ(p.Value("coredb_circuit_breaker_state", {{"backend", "postgresql"}}), 2);
  EXPECT_EQ(p.Value("coredb_circuit_breaker_transitions_total", {{"backend", "postgresql"}, {"to", "open"}}), 2);
  EXPECT_EQ(p.Value("coredb_circuit_breaker_calls_total", {{"backend", "postgresql"}, {"result", "rejected"}}), 4);
  EXPECT_EQ(p.Value("coredb_sagas_total", {{"status", "failed"}}), 2);
  EXPECT_EQ(p.Value("coredb_build_info", {{"version", "1.2.3"}}), 1);
  EXPECT_EQ(p.types["coredb_http_request_duration_seconds"], "histogram");
  EXPECT_EQ(p.types["coredb_http_requests_total"], "counter");
}

TEST(Metrics, RouteLabelsAreBoundedAndEscaped) {
  Metrics m("x");
  for (std::size_t i = 0; i < Metrics::kMaxRoutes + 50; ++i) {
    m.ObserveRequest("/r/" + std::to_string(i), "GET", 200, std::nullopt, 1ms);
  }
  m.ObserveRequest("a\"b\\c\nd", "GET", 200, std::nullopt, 1ms);
  auto p = ParsePrometheusText(m.Render({}));
  ASSERT_TRUE(p.problems.empty()) << p.problems[0];
  std::set<std::string> routes;
  for (const auto& s : p.samples) {
    if (s.name == "coredb_http_requests_total") routes.insert(s.labels.at("route"));
  }
  EXPECT_EQ(routes.size(), Metrics::kMaxRoutes + 1);  // the first kMaxRoutes, then "other"
  EXPECT_EQ(p.Value("coredb_http_requests_total", {{"route", "other"}}), 51);
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(Metrics, TheParserRejectsWhatPrometheusWould) {
  EXPECT_FALSE(ParsePrometheusText("x 1\n").problems.empty());  // no TYPE
  EXPECT_FALSE(ParsePrometheusText("# TYPE x gauge\nx{a=\"1} 1\n").problems.empty());
  EXPECT_FALSE(ParsePrometheusText("# TYPE x gauge\nx 1\nx 2\n").problems.empty());  // duplicate
  EXPECT_FALSE(ParsePrometheusText("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")
                   .problems.empty());  // not cumulative
  EXPECT_TRUE(ParsePrometheusText("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n")
                  .problems.empty());
}

TEST(Histogram, BucketsAreUpperBoundsInclusive) {
  Histogram h;
  h.Observe(0.001);  // exactly on a bound: in that bucket (le = less or equal)
  h.Observe(100);    // past every bound: +Inf
  EXPECT_EQ(h.counts[0], 1u);
  EXPECT_EQ(h.counts.back(), 1u);
  EXPECT_EQ(h.count, 2u);
}

}  // namespace
}  // namespace coredb::observability
