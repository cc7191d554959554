#include "coredb/app/command_line.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

namespace coredb::app {

namespace {

constexpr std::int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;

struct CommandInfo {
  Command command;
  const char* name;
  const char* summary;
  const char* help;  // after the summary: usage and options
};

constexpr CommandInfo kCommands[] = {
    {Command::kServe, "serve", "run the HTTP service (default)",
     "usage: coredb serve\n\n"
     "Serves the HTTP API until SIGTERM/SIGINT. Needs COREDB_ADMIN_TOKEN. Does not migrate: run\n"
     "`coredb migrate` (or POST /api/v1/migrations/run) first.\n"},
    {Command::kHealth, "health", "check PostgreSQL, Redis and the vector store once",
     "usage: coredb health [--live]\n\n"
     "Prints one line per backend; exit 1 when PostgreSQL or Redis is down.\n\n"
     "  --live                 instead, GET /health/live of the service running on HOST:PORT\n"
     "                         (127.0.0.1 when HOST is 0.0.0.0; HTTPS when TLS_CERT is set): exit 0\n"
     "                         when it answers 200 within 2 s, else 1. For container health checks\n"
     "                         (the image has no curl).\n"},
    {Command::kMigrate, "migrate", "apply pending migrations",
     "usage: coredb migrate [--target V] [--lock-timeout MS] [--statement-timeout MS]\n\n"
     "Applies the pending migrations in order, each in its own transaction, under the migration\n"
     "lock (a PostgreSQL advisory lock: a second runner waits, then finds nothing to apply).\n"
     "Refuses when an applied migration was changed since (checksum) or is unknown to this build.\n\n"
     "  --target V             stop after version V (a known version)\n"
     "  --lock-timeout MS      how long to wait for another runner's lock (default 30000)\n"
     "  --statement-timeout MS bound on each statement of a migration (default 300000)\n"},
    {Command::kRollback, "rollback", "undo the last applied migration(s)",
     "usage: coredb rollback [--steps N] [--lock-timeout MS] [--statement-timeout MS]\n\n"
     "Runs the down part of the last N applied migrations, newest first, each in its own\n"
     "transaction. Fails (nothing changed) when fewer than N are applied.\n\n"
     "  --steps N              how many migrations to undo (default 1)\n"
     "  --lock-timeout MS      how long to wait for another runner's lock (default 30000)\n"
     "  --statement-timeout MS bound on each statement (default 300000)\n"},
    {Command::kStatus, "status", "show applied and pending migrations",
     "usage: coredb status [--json]\n\n"
     "Prints the current version, the history (version, name, applied at, duration, checksum)\n"
     "and the pending versions. Exit 1 when the history has problems (a changed or unknown\n"
     "applied migration).\n\n"
     "  --json                 the same JSON as GET /api/v1/migrations/status\n"},
    {Command::kReset, "reset", "roll back every migration, then apply them all (drops all platform data)",
     "usage: coredb reset [--force] [--lock-timeout MS] [--statement-timeout MS]\n\n"
     "Runs the down part of every applied migration (newest first), then applies them all again:\n"
     "every platform table is emptied. Refuses without --force unless COREDB_ENV or NODE_ENV is\n"
     "\"development\" (exit 2).\n\n"
     "  --force                reset outside development too\n"
     "  --lock-timeout MS      how long to wait for another runner's lock (default 30000)\n"
     "  --statement-timeout MS bound on each statement (default 300000)\n"},
    {Command::kSeed, "seed", "insert the story's seed data (idempotent)",
     "usage: coredb seed\n\n"
     "Inserts the libraries MongoDB, Next.js and Supabase, the user test@twinmcp.dev and its API\n"
     "key. Rows that exist already are kept: running it twice inserts nothing the second time.\n"
     "Needs the schema (`coredb migrate`).\n"},
    {Command::kClients, "clients", "manage API clients and their tokens (add, list, revoke)",
     "usage: coredb clients add --name NAME --scopes read[,write,admin] [--quota-per-minute N]\n"
     "                          [--quota-per-day N] [--pg-role ROLE] [--cache-prefix P]...\n"
     "       coredb clients list [--json]\n"
     "       coredb clients revoke ID\n\n"
     "add prints the new client's token once (only its SHA-256 is stored: keep it now). A running\n"
     "service sees clients added or revoked here within 5 seconds. Needs the schema (migration 3).\n\n"
     "  --name NAME            1..64 letters, digits, '.', '_', '-'\n"
     "  --scopes LIST          comma-separated: read, write, admin\n"
     "  --quota-per-minute N   requests per minute (default: none)\n"
     "  --quota-per-day N      requests per UTC day (default: none)\n"
     "  --pg-role ROLE         PostgreSQL role the client's statements run as\n"
     "  --cache-prefix P       a cache key prefix the client is limited to (repeat for more)\n"
     "  --json                 list: the same JSON as GET /api/v1/clients\n"},
    {Command::kConfig, "config", "show the effective configuration (secrets masked) or the variables read",
     "usage: coredb config print      (also: coredb --print-config)\n"
     "       coredb config vars\n\n"
     "print: every environment variable the service reads, with the value it takes (set, or the\n"
     "default), passwords and tokens masked, then the connection settings derived from them; exit 2\n"
     "when the configuration is invalid (its problems on stderr), as serve would.\n"
     "vars: the names of those variables, one per line (what a deployment may set).\n"},
    {Command::kRoutes, "routes", "list the HTTP routes the service serves (method, path, access)",
     "usage: coredb routes [--json]\n\n"
     "Prints the route table the service builds, one route a line: method, path template and who may\n"
     "call it (public, authenticated, admin). Needs no configuration and connects nowhere. The\n"
     "OpenAPI document (GET /openapi.json, docs/openapi.yaml) describes exactly these routes.\n\n"
     "  --json                 [{method, path, access}, ...]\n"},
};

const CommandInfo* FindCommand(std::string_view name) {
  for (const auto& info : kCommands) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

const CommandInfo& Info(Command command) {
  for (const auto& info : kCommands) {
    if (info.command == command) return info;
  }
  return kCommands[0];
}

std::optional<std::int64_t> ParseInteger(std::string_view text, std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

bool TakesOption(Command command, std::string_view option) {
  const bool runs_migrations =
      command == Command::kMigrate || command == Command::kRollback || command == Command::kReset;
  if (option == "--lock-timeout" || option == "--statement-timeout") return runs_migrations;
  if (option == "--target") return command == Command::kMigrate;
  if (option == "--steps") return command == Command::kRollback;
  if (option == "--force") return command == Command::kReset;
  if (option == "--live") return command == Command::kHealth;
  if (option == "--json") {
    return command == Command::kStatus || command == Command::kClients || command == Command::kRoutes;
  }
  if (option == "--name" || option == "--scopes" || option == "--quota-per-minute" || option == "--quota-per-day" ||
      option == "--pg-role" || option == "--cache-prefix") {
    return command == Command::kClients;
  }
  return false;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

bool IsFlag(std::string_view option) { return option == "--force" || option == "--json" || option == "--live"; }

}  // namespace

const char* CommandName(Command command) {
  if (command == Command::kHelp) return "help";
  if (command == Command::kVersion) return "version";
  return Info(command).name;
}

std::string UsageText() {
  std::string out = "usage: coredb [command] [options]\n\ncommands:\n";
  for (const auto& info : kCommands) {
    std::string name = info.name;
    name.resize(10, ' ');
    out += "  " + name + info.summary + "\n";
  }
  out +=
      "  --version print the version\n"
      "  --help    this text; `coredb <command> --help` for a command's options\n"
      "\n"
      "exit codes: 0 ok, 1 failure, 2 usage or configuration error.\n"
      "\n"
      "configuration comes from the environment: DATABASE_URL (or PG_HOST, PG_PORT, PG_DATABASE, PG_USER,\n"
      "PG_PASSWORD, PG_SSL), PG_POOL_SIZE, REDIS_URL (or REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, REDIS_DB,\n"
      "REDIS_SESSION_DB), REDIS_POOL_SIZE, VECTOR_URL, HOST, PORT, LOG_LEVEL, COREDB_ADMIN_TOKEN,\n"
      "COREDB_INSTANCE_ID, MAX_BODY_BYTES,\n"
      "MAX_RESULT_BYTES, DEFAULT_QUERY_TIMEOUT, SHUTDOWN_TIMEOUT, COREDB_MIGRATIONS_DIR (see README.md;\n"
      "`coredb config vars` lists them all, `coredb config print` shows their effective values).\n"
      "migrate, rollback, status, reset and seed need only the PostgreSQL settings.\n";
  return out;
}

std::string HelpText(Command command) {
  if (command == Command::kHelp || command == Command::kVersion) return UsageText();
  const CommandInfo& info = Info(command);
  return std::string("coredb ") + info.name + ": " + info.summary + "\n" + info.help;
}

ParsedCommandLine ParseCommandLine(const std::vector<std::string>& args) {
  ParsedCommandLine parsed;
  CommandLine& line = parsed.line;
  if (args.empty()) return parsed;  // serve
  const std::string& first = args[0];
  if (first == "--help" || first == "-h" || first == "help") {
    line.command = Command::kHelp;
    return parsed;
  }
  if (first == "--version") {
    line.command = Command::kVersion;
    return parsed;
  }
  if (first == "--print-config" && args.size() == 1) {
    line.command = Command::kConfig;
    line.config_action = ConfigAction::kPrint;
    return parsed;
  }
  const CommandInfo* info = FindCommand(first);
  if (info == nullptr) {
    parsed.error = "unknown command '" + first + "'";
    line.command = Command::kHelp;
    return parsed;
  }
  line.command = info->command;

  std::size_t first_option = 1;
  if (line.command == Command::kClients) {
    if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
      if (args.size() < 2) parsed.error = "clients needs an action: add, list or revoke";
      line.help = args.size() >= 2;
      return parsed;
    }
    const std::string& action = args[1];
    if (action == "add") {
      line.clients_action = ClientsAction::kAdd;
    } else if (action == "list") {
      line.clients_action = ClientsAction::kList;
    } else if (action == "revoke") {
      line.clients_action = ClientsAction::kRevoke;
      if (args.size() < 3 || args[2].rfind("-", 0) == 0) {
        if (args.size() >= 3 && (args[2] == "--help" || args[2] == "-h")) {
          line.help = true;
          return parsed;
        }
        parsed.error = "clients revoke needs the client's id";
        return parsed;
      }
      line.client_id = args[2];
      first_option = 3;
    } else {
      parsed.error = "unknown clients action '" + action + "' (expected add, list or revoke)";
      return parsed;
    }
    if (first_option == 1) first_option = 2;
  }
  if (line.command == Command::kConfig) {
    if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
      if (args.size() < 2) parsed.error = "config needs an action: print or vars";
      line.help = args.size() >= 2;
      return parsed;
    }
    if (args[1] == "print") {
      line.config_action = ConfigAction::kPrint;
    } else if (args[1] == "vars") {
      line.config_action = ConfigAction::kVars;
    } else {
      parsed.error = "unknown config action '" + args[1] + "' (expected print or vars)";
      return parsed;
    }
    first_option = 2;
  }

  for (std::size_t i = first_option; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      line.help = true;
      continue;
    }
    // --name=value or --name value
    std::string_view option = arg;
    std::optional<std::string_view> value;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string_view::npos) {
      option = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (!TakesOption(line.command, option)) {
      parsed.error = std::string(arg.rfind("-", 0) == 0 ? "unknown option '" : "unexpected argument '") +
                     std::string(option) + "' for " + info->name;
      return parsed;
    }
    if (IsFlag(option)) {
      if (value) {
        parsed.error = std::string(option) + " takes no value";
        return parsed;
      }
      (option == "--force" ? line.force : option == "--live" ? line.live : line.json) = true;
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        parsed.error = std::string(option) + " needs a value";
        return parsed;
      }
      value = args[++i];
    }
    if (line.command == Command::kClients) {
      const bool adding = line.clients_action == ClientsAction::kAdd;
      if (option != "--json" && !adding) {
        parsed.error = std::string(option) + " applies to clients add only";
        return parsed;
      }
      if (option == "--name") {
        line.client_name = std::string(*value);
      } else if (option == "--scopes") {
        line.client_scopes = SplitList(*value);
      } else if (option == "--pg-role") {
        line.pg_role = std::string(*value);
      } else if (option == "--cache-prefix") {
        line.cache_prefixes.emplace_back(*value);
      } else {
        const bool minute = option == "--quota-per-minute";
        auto v = ParseInteger(*value, 1, minute ? 1000000 : 1000000000);
        if (!v) {
          parsed.error = std::string(option) + " must be a positive integer (at most " +
                         (minute ? "1000000" : "1000000000") + "), got '" + std::string(*value) + "'";
          return parsed;
        }
        (minute ? line.quota_per_minute : line.quota_per_day) = *v;
      }
      continue;
    }
    if (option == "--target") {
      auto v = ParseInteger(*value, 1, 2147483647);
      if (!v) {
        parsed.error = "--target must be a migration version (a positive integer), got '" + std::string(*value) + "'";
        return parsed;
      }
      line.target = static_cast<int>(*v);
    } else if (option == "--steps") {
      auto v = ParseInteger(*value, 1, 1000);
      if (!v) {
        parsed.error = "--steps must be an integer in 1..1000, got '" + std::string(*value) + "'";
        return parsed;
      }
      line.steps = static_cast<int>(*v);
    } else {
      auto v = ParseInteger(*value, 1, kMaxTimeoutMs);
      if (!v) {
        parsed.error = std::string(option) + " must be milliseconds in 1.." + std::to_string(kMaxTimeoutMs) +
                       ", got '" + std::string(*value) + "'";
        return parsed;
      }
      (option == "--lock-timeout" ? line.lock_timeout : line.statement_timeout) = std::chrono::milliseconds(*v);
    }
  }
  if (line.clients_action == ClientsAction::kAdd && !line.help &&
      (line.client_name.empty() || line.client_scopes.empty())) {
    parsed.error = "clients add needs --name and --scopes";
  }
  return parsed;
}

bool IsDevelopmentEnvironment(const std::optional<std::string>& coredb_env,
                              const std::optional<std::string>& node_env) {
  // COREDB_ENV, when set, decides (COREDB_ENV=production wins over a NODE_ENV left to development).
  if (coredb_env && !coredb_env->empty()) return *coredb_env == "development";
  return node_env.value_or("") == "development";
}

}  // namespace coredb::app
