// Wiring and lifecycle of the service: builds the object graph from the config, serves until
// SIGTERM/SIGINT, then stops in order (readiness 503, drain HTTP, close pools and Redis).
#pragma once

#include "coredb/config/config.hpp"

namespace coredb::app {

// Runs the service on the calling thread (the event loop). Returns the process exit code.
int Serve(const config::Config& config);

// Checks PostgreSQL, Redis and the vector store once; prints one line each; 0 when all answer.
int CheckHealth(const config::Config& config);

}  // namespace coredb::app
