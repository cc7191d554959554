#include "coredb/app/schema_commands.hpp"

#include "coredb/adapters/postgres/cancel_worker.hpp"
#include "coredb/adapters/postgres/pg_backend.hpp"
#include "coredb/app/cli_runner.hpp"
#include "coredb/core/json_writer.hpp"
#include "coredb/migrations/pg_migrator.hpp"
#include "coredb/migrations/seed.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdio>

namespace coredb::app {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

constexpr int kOk = kExitOk, kFailure = kExitFailure, kUsage = kExitUsage;

std::string CurrentText(const std::optional<int>& current) {
  return current ? "schema at version " + std::to_string(*current) : std::string("no migration applied");
}

int Fail(Command command, const Error& error) {
  std::string message = error.message;
  if (error.pg && !error.pg->sqlstate.empty()) message += " (SQLSTATE " + error.pg->sqlstate + ")";
  if (error.pg && !error.pg->detail.empty()) message += "\n  detail: " + error.pg->detail;
  if (error.pg && !error.pg->hint.empty()) message += "\n  hint: " + error.pg->hint;
  std::fprintf(stderr, "coredb %s: %s\n", CommandName(command), message.c_str());
  // A request this build cannot honour (unknown target) is a usage error; the rest are failures.
  return error.code == ErrorCode::kInvalidRequest ? kUsage : kFailure;
}

void PrintSteps(const char* verb, const migrations::MigrationRun& run) {
  for (const auto& step : run.steps) {
    std::printf("%s %d %s (%.1f ms)\n", verb, step.version, step.name.c_str(), step.duration_ms);
  }
}

int PrintStatus(const migrations::MigrationStatus& status, bool json) {
  if (json) {
    std::printf("%s\n", ToJson(migrations::StatusToJson(status)).c_str());
  } else {
    std::printf("current: %s\n", status.current ? std::to_string(*status.current).c_str() : "none");
    std::printf("applied:%s\n", status.history.empty() ? " none" : "");
    for (const auto& a : status.history) {
      std::printf("  %d %s  applied %s in %.1f ms  checksum %s\n", a.version, a.name.c_str(), a.applied_at.c_str(),
                  a.duration_ms, a.checksum.substr(0, 12).c_str());
    }
    std::string pending;
    for (int v : status.pending) pending += (pending.empty() ? "" : ", ") + std::to_string(v);
    std::printf("pending: %s\n", pending.empty() ? "none" : pending.c_str());
    for (const auto& p : status.problems) std::printf("problem: %s\n", p.c_str());
  }
  return status.problems.empty() ? kOk : kFailure;
}

awaitable<int> Run(migrations::PgMigrator& migrator, const config::Config& config, const CommandLine& line,
                   pg::CancelWorker& cancel_worker) {
  switch (line.command) {
    case Command::kMigrate: {
      auto run = co_await migrator.Migrate(line.target);
      if (!run) co_return Fail(line.command, run.error());
      PrintSteps("applied", *run);
      std::printf("%s: %s\n", run->steps.empty() ? "nothing to apply" : "done", CurrentText(run->current).c_str());
      co_return kOk;
    }
    case Command::kRollback: {
      auto run = co_await migrator.Rollback(line.steps);
      if (!run) co_return Fail(line.command, run.error());
      PrintSteps("rolled back", *run);
      std::printf("done: %s\n", CurrentText(run->current).c_str());
      co_return kOk;
    }
    case Command::kReset: {
      auto reset = co_await migrator.Reset();
      if (!reset) co_return Fail(line.command, reset.error());
      PrintSteps("rolled back", reset->rolled_back);
      PrintSteps("applied", reset->applied);
      std::printf("done: %s\n", CurrentText(reset->applied.current).c_str());
      co_return kOk;
    }
    case Command::kStatus: {
      auto status = co_await migrator.Status();
      if (!status) co_return Fail(line.command, status.error());
      co_return PrintStatus(*status, line.json);
    }
    case Command::kSeed: {
      pg::ConnectionOptions connection;
      connection.conninfo = config.postgres.conninfo;
      connection.connect_timeout = config.postgres.connect_timeout;
      connection.application_name = "coredb-seed";
      auto executor = co_await asio::this_coro::executor;
      auto counts =
          co_await migrations::SeedPlatformData(executor, connection, cancel_worker, config.default_query_timeout);
      if (!counts) co_return Fail(line.command, counts.error());
      std::printf(
          "seed: inserted %d of %d libraries, %d of 1 users, %d of 1 api keys (rows already present are "
          "kept)\n",
          counts->libraries, migrations::kSeedLibraries, counts->users, counts->api_keys);
      co_return kOk;
    }
    default:
      co_return kUsage;
  }
}

}  // namespace

int RunSchemaCommand(const config::Config& config, const CommandLine& line) {
  if (auto problem = pg::ConninfoProblem(config.postgres.conninfo)) {
    std::fprintf(stderr, "config: DATABASE_URL / PG_* settings are invalid: %s\n", problem->c_str());
    return kUsage;
  }
  auto known = migrations::LoadMigrations(config.migrations_dir);
  if (!known) {
    std::fprintf(stderr, "config: %s\n", known.error().message.c_str());
    return kUsage;
  }

  asio::io_context ioc{1};
  pg::CancelWorker cancel_worker;
  migrations::MigratorOptions options;
  options.connection.conninfo = config.postgres.conninfo;
  options.connection.connect_timeout = config.postgres.connect_timeout;
  if (line.lock_timeout) options.lock_timeout = *line.lock_timeout;
  if (line.statement_timeout) options.statement_timeout = *line.statement_timeout;
  migrations::PgMigrator migrator(ioc.get_executor(), cancel_worker, std::move(*known), options);

  return RunToExitCode(ioc, Run(migrator, config, line, cancel_worker), CommandName(line.command));
}

}  // namespace coredb::app
