// Wiring and lifecycle of the service: builds the object graph from the config, serves until
// SIGTERM/SIGINT, then stops in order (readiness 503, drain HTTP, close pools and Redis).
#pragma once

#include "coredb/config/config.hpp"
#include "coredb/http/router.hpp"

#include <vector>

namespace coredb::app {

// Runs the service on the calling thread (the event loop). Returns the process exit code.
int Serve(const config::Config& config);

// The service's route table, built as Serve builds it but without connecting anywhere: what the
// OpenAPI document must describe (tests/unit/openapi_test.cpp).
std::vector<http::RouteEntry> RouteTable();
// `coredb routes [--json]`: the table, one route a line (METHOD path access) or as JSON.
int PrintRoutes(bool json);

// Checks PostgreSQL, Redis and the vector store once; prints one line each; 0 when all answer.
int CheckHealth(const config::Config& config);

}  // namespace coredb::app
