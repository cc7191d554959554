// The database subcommands of the CLI: migrate, rollback, status, reset, seed. They need only the
// PostgreSQL settings (DATABASE_URL or PG_*), run on their own event loop with the same
// non-blocking connection code as the service, print a short report on stdout (errors on
// stderr) and return the exit code: 0 ok, 1 failure, 2 usage or configuration error.
#pragma once

#include "coredb/app/command_line.hpp"
#include "coredb/config/config.hpp"

namespace coredb::app {

int RunSchemaCommand(const config::Config& config, const CommandLine& line);

}  // namespace coredb::app
