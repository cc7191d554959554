// GET /health, /health/ready, /health/live (API.md "Health and metrics"); no token needed.
#pragma once

#include "coredb/http/router.hpp"
#include "coredb/observability/health.hpp"

namespace coredb::http {

void RegisterHealthRoutes(Router& router, const observability::HealthMonitor& health);

// RFC 3339 UTC with milliseconds, e.g. 2026-11-23T10:00:00.123Z.
std::string NowRfc3339();

}  // namespace coredb::http
