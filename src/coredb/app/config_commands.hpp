// `coredb config print` and `coredb config vars`: what the environment gives the service, from
// the one list of variables in config/settings, passwords and tokens masked (so an operator can
// see what a pod got without the output becoming a secret).
#pragma once

#include "coredb/app/command_line.hpp"
#include "coredb/config/config.hpp"

#include <string>

namespace coredb::app {

// What `config print` writes: one `NAME=value` line per variable (masked; `# default` when not
// set), then the connection settings the loader derived from them. Pure.
std::string RenderConfig(const config::LoadResult& loaded, const config::EnvReader& env);
// What `config vars` writes: the names, one per line.
std::string RenderVariableNames();

// Runs `config print|vars` on the process environment. Exit 0, or 2 when the configuration is
// invalid (printed anyway, its problems on stderr).
int RunConfigCommand(const CommandLine& line);

}  // namespace coredb::app
