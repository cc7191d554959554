// `coredb health --live`: GET /health/live of the service running on HOST:PORT, for container
// health checks (the runtime image has no curl). Exit 0 when it answers 200 in time, else 1.
#pragma once

#include "coredb/config/config.hpp"

namespace coredb::app {

int CheckLiveness(const config::HttpConfig& http);

}  // namespace coredb::app
