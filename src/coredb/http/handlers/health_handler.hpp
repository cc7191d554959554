// GET /health, /health/ready, /health/live (API.md "Health and metrics"); no token needed.
#pragma once

#include "coredb/http/router.hpp"
#include "coredb/observability/health.hpp"

namespace coredb::http {

void RegisterHealthRoutes(Router& router, const observability::HealthMonitor& health);

}  // namespace coredb::http
