// `coredb clients add|list|revoke`: client management from the command line, on the same
// ClientStore as the admin endpoints (needs only the PostgreSQL settings). Exit codes: 0 ok,
// 1 failure, 2 usage or configuration error (a bad name, scope, role...).
#pragma once

#include "coredb/app/command_line.hpp"
#include "coredb/config/config.hpp"

namespace coredb::app {

int RunClientCommand(const config::Config& config, const CommandLine& line);

}  // namespace coredb::app
