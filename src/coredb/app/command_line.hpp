// The coredb command line: subcommands, their options and their help texts. Parsing is pure
// (unit-tested); main.cpp only prints and dispatches. Exit codes of the binary: 0 ok, 1 failure,
// 2 usage or configuration error.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace coredb::app {

enum class Command {
  kServe,
  kHealth,
  kMigrate,
  kRollback,
  kStatus,
  kReset,
  kSeed,
  kClients,
  kConfig,
  kRoutes,
  kHelp,
  kVersion
};

enum class ClientsAction { kNone, kAdd, kList, kRevoke };

enum class ConfigAction { kNone, kPrint, kVars };

struct CommandLine {
  Command command = Command::kServe;
  bool help = false;                                           // `coredb <command> --help`
  std::optional<int> target;                                   // migrate --target V
  int steps = 1;                                               // rollback --steps N
  bool force = false;                                          // reset --force
  bool json = false;                                           // status, clients list, routes --json
  bool live = false;                                           // health --live
  ConfigAction config_action = ConfigAction::kNone;            // config print|vars
  std::optional<std::chrono::milliseconds> lock_timeout;       // migrate, rollback, reset
  std::optional<std::chrono::milliseconds> statement_timeout;  // migrate, rollback, reset
  // clients add|list|revoke (values checked by clients/client_rules when the command runs)
  ClientsAction clients_action = ClientsAction::kNone;
  std::string client_name;                  // add --name
  std::vector<std::string> client_scopes;   // add --scopes read,write
  std::optional<std::int64_t> quota_per_minute;  // add --quota-per-minute
  std::optional<std::int64_t> quota_per_day;     // add --quota-per-day
  std::string pg_role;                      // add --pg-role
  std::vector<std::string> cache_prefixes;  // add --cache-prefix P (repeatable)
  std::string client_id;                    // revoke <id>
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
