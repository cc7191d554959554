// coredb — the core-database-service binary. Subcommands mirror the operations the platform
// needs; `serve` is the default. Parsing lives in app/command_line (unit-tested); this file only
// dispatches. Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
#include "coredb/app/application.hpp"
#include "coredb/app/client_commands.hpp"
#include "coredb/app/command_line.hpp"
#include "coredb/app/config_commands.hpp"
#include "coredb/app/live_probe.hpp"
#include "coredb/app/schema_commands.hpp"
#include "coredb/config/config.hpp"
#include "coredb/observability/logging.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace {

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

}  // namespace

int main(int argc, char** argv) {
  using coredb::app::Command;
  // A peer that closed its socket must be an error code on write, never a process-killing signal.
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> args(argv + 1, argv + argc);
  const auto parsed = coredb::app::ParseCommandLine(args);
  const auto& line = parsed.line;
  if (!parsed.ok()) {
    std::fprintf(stderr, "coredb: %s\n\n%s", parsed.error.c_str(), coredb::app::HelpText(line.command).c_str());
    return 2;
  }
  if (line.command == Command::kHelp || line.help) {
    std::fputs(coredb::app::HelpText(line.command).c_str(), stdout);
    return 0;
  }
  if (line.command == Command::kVersion) {
    std::printf("coredb %s\n", COREDB_VERSION);
    return 0;
  }
  // Before the load below: `config print` shows an invalid configuration too.
  if (line.command == Command::kConfig) return coredb::app::RunConfigCommand(line);
  if (line.command == Command::kRoutes) {
    coredb::observability::InitLogging("error");  // stdout is the table
    const int code = coredb::app::PrintRoutes(line.json);
    coredb::observability::ShutdownLogging();
    return code;
  }
  if (line.command == Command::kReset && !line.force &&
      !coredb::app::IsDevelopmentEnvironment(Env("COREDB_ENV"), Env("NODE_ENV"))) {
    std::fprintf(stderr,
                 "coredb reset: refusing to drop every platform table without --force "
                 "(allowed without it when COREDB_ENV or NODE_ENV is \"development\")\n");
    return 2;
  }

  auto loaded = coredb::config::LoadFromProcessEnvironment();
  if (!loaded.ok()) {
    for (const auto& problem : loaded.problems) std::fprintf(stderr, "config: %s\n", problem.c_str());
    return 2;
  }
  // One-shot commands report on stdout themselves: only warnings and errors are logged, unless
  // LOG_LEVEL asks for more.
  const bool quiet = line.command != Command::kServe && !Env("LOG_LEVEL");
  coredb::observability::InitLogging(quiet ? "warn" : loaded.config.log_level);
  int code = 0;
  switch (line.command) {
    case Command::kServe:
      code = coredb::app::Serve(loaded.config);
      break;
    case Command::kHealth:
      code = line.live ? coredb::app::CheckLiveness(loaded.config.http) : coredb::app::CheckHealth(loaded.config);
      break;
    case Command::kClients:
      code = coredb::app::RunClientCommand(loaded.config, line);
      break;
    default:
      code = coredb::app::RunSchemaCommand(loaded.config, line);
      break;
  }
  coredb::observability::ShutdownLogging();
  return code;
}
