// The coredb command line: subcommands, their options and their help texts. Parsing is pure
// (unit-tested); main.cpp only prints and dispatches. Exit codes of the binary: 0 ok, 1 failure,
// 2 usage or configuration error.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace coredb::app {

enum class Command { kServe, kHealth, kMigrate, kRollback, kStatus, kReset, kSeed, kHelp, kVersion };

struct CommandLine {
  Command command = Command::kServe;
  bool help = false;                                           // `coredb <command> --help`
  std::optional<int> target;                                   // migrate --target V
  int steps = 1;                                               // rollback --steps N
  bool force = false;                                          // reset --force
  bool json = false;                                           // status --json
  std::optional<std::chrono::milliseconds> lock_timeout;       // migrate, rollback, reset
  std::optional<std::chrono::milliseconds> statement_timeout;  // migrate, rollback, reset
};

struct ParsedCommandLine {
  CommandLine line;
  std::string error;  // empty when the command line is valid
  bool ok() const { return error.empty(); }
};

// `args` are argv[1..]. No command means `serve`.
ParsedCommandLine ParseCommandLine(const std::vector<std::string>& args);

const char* CommandName(Command command);
// The overview (`coredb --help`).
std::string UsageText();
// The help of one command (`coredb migrate --help`).
std::string HelpText(Command command);

// `reset` runs without --force only in development: COREDB_ENV is "development", or COREDB_ENV
// is unset and NODE_ENV is "development" (the story's variable).
bool IsDevelopmentEnvironment(const std::optional<std::string>& coredb_env, const std::optional<std::string>& node_env);

}  // namespace coredb::app
