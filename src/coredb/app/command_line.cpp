#include "coredb/app/command_line.hpp"

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
     "usage: coredb health\n\n"
     "Prints one line per backend; exit 1 when PostgreSQL or Redis is down.\n"},
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
  if (option == "--json") return command == Command::kStatus;
  return false;
}

bool IsFlag(std::string_view option) { return option == "--force" || option == "--json"; }

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
      "MAX_RESULT_BYTES, DEFAULT_QUERY_TIMEOUT, SHUTDOWN_TIMEOUT, COREDB_MIGRATIONS_DIR (see README.md).\n"
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
  const CommandInfo* info = FindCommand(first);
  if (info == nullptr) {
    parsed.error = "unknown command '" + first + "'";
    line.command = Command::kHelp;
    return parsed;
  }
  line.command = info->command;

  for (std::size_t i = 1; i < args.size(); ++i) {
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
      (option == "--force" ? line.force : line.json) = true;
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        parsed.error = std::string(option) + " needs a value";
        return parsed;
      }
      value = args[++i];
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
  return parsed;
}

bool IsDevelopmentEnvironment(const std::optional<std::string>& coredb_env,
                              const std::optional<std::string>& node_env) {
  // COREDB_ENV, when set, decides (COREDB_ENV=production wins over a NODE_ENV left to development).
  if (coredb_env && !coredb_env->empty()) return *coredb_env == "development";
  return node_env.value_or("") == "development";
}

}  // namespace coredb::app
