// GET /metrics (API.md "Health and metrics"): the Prometheus text exposition (format 0.0.4).
// Public unless METRICS_TOKEN is set; then it needs `Authorization: Bearer <METRICS_TOKEN>` or
// an admin token: 401 UNAUTHENTICATED without a valid token, 403 FORBIDDEN for a valid token
// that is neither.
#pragma once

#include "coredb/http/router.hpp"
#include "coredb/http/server.hpp"
#include "coredb/observability/metrics.hpp"

#include <functional>
#include <string>

namespace coredb::http {

struct MetricsRouteOptions {
  observability::Metrics& metrics;
  std::function<observability::MetricsSnapshot()> snapshot;  // read at each scrape
  Authenticator& authenticator;
  std::string metrics_token;  // empty: public
};

void RegisterMetricsRoutes(Router& router, MetricsRouteOptions options);

}  // namespace coredb::http
