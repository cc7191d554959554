#include "coredb/migrations/pg_migrator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace coredb::migrations {

namespace asio = boost::asio;
using asio::awaitable;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

using Params = std::vector<std::optional<std::string>>;

// Statements outside a migration's transaction (lock attempt, history reads) are quick: a bound
// of their own. Inside the transaction everything runs with statement_timeout (one setting, so
// the connection does not switch statement_timeout back and forth).
constexpr std::chrono::milliseconds kBookkeepingTimeout = 10s;

constexpr const char* kCreateHistorySql =
    "CREATE TABLE IF NOT EXISTS coredb_schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " duration_ms double precision NOT NULL)";
constexpr const char* kHistoryExistsSql = "SELECT to_regclass('coredb_schema_migrations') IS NOT NULL";
constexpr const char* kReadHistorySql =
    "SELECT version, name, checksum,"
    " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), duration_ms"
    " FROM coredb_schema_migrations ORDER BY version";
constexpr const char* kInsertHistorySql =
    "INSERT INTO coredb_schema_migrations (version, name, checksum, applied_at, duration_ms)"
    " VALUES ($1::integer, $2, $3, clock_timestamp(), $4::double precision)";
constexpr const char* kDeleteHistorySql = "DELETE FROM coredb_schema_migrations WHERE version = $1::integer";

std::string Text(const pg::PgResultPtr& r, int row, int column) {
  if (!r || row >= PQntuples(r.get()) || PQgetisnull(r.get(), row, column)) return {};
  return PQgetvalue(r.get(), row, column);
}

double MillisSince(Clock::time_point start) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count()) /
         1000.0;
}

std::string VersionList(const std::vector<MigrationStep>& steps) {
  std::string out;
  for (const auto& s : steps) out += (out.empty() ? "" : ", ") + std::to_string(s.version);
  return out;
}

// Keeps PostgreSQL's code and fields; says which migration, statement and line failed.
Error InMigration(Error error, const Migration& m, bool up, const std::string& where) {
  const std::string label = std::to_string(m.version) + " (" + m.name + ")";
  error.message =
      up ? "migration " + label + " failed at " + where + " and was not applied: " + error.message
         : "rollback of migration " + label + " failed at " + where + "; it is still applied: " + error.message;
  return error;
}

}  // namespace

PgMigrator::PgMigrator(asio::any_io_executor executor, pg::CancelWorker& cancel_worker, std::vector<Migration> known,
                       MigratorOptions options)
    : executor_(std::move(executor)),
      cancel_worker_(cancel_worker),
      known_(std::move(known)),
      options_(std::move(options)) {
  std::sort(known_.begin(), known_.end(), [](const Migration& a, const Migration& b) { return a.version < b.version; });
  if (options_.connection.application_name == "coredb") options_.connection.application_name = "coredb-migrate";
}

awaitable<Result<std::unique_ptr<pg::Connection>>> PgMigrator::Connect() {
  pg::ConnectionOptions connection = options_.connection;
  connection.default_statement_timeout = options_.statement_timeout;
  auto opened = co_await pg::Connection::Open(executor_, connection, cancel_worker_);
  co_return opened;
}

awaitable<Result<void>> PgMigrator::Lock(pg::Connection& connection) {
  const Params key{std::to_string(kMigrationLockKey)};
  auto tried =
      co_await connection.Execute(pg::Statement{"SELECT pg_try_advisory_lock($1::bigint)", key, kBookkeepingTimeout});
  if (!tried) co_return tried.error();
  if (Text(*tried, 0, 0) == "t") co_return Result<void>{};

  spdlog::info("migrations: another run holds the migration lock; waiting up to {} ms", options_.lock_timeout.count());
  const auto started = Clock::now();
  auto waited =
      co_await connection.Execute(pg::Statement{"SELECT pg_advisory_lock($1::bigint)", key, options_.lock_timeout});
  if (!waited) {
    if (waited.error().code == ErrorCode::kQueryTimeout) {
      co_return Error(ErrorCode::kConflict, "another migration run held the migration lock for more than " +
                                                std::to_string(options_.lock_timeout.count()) +
                                                " ms: gave up, nothing was changed");
    }
    co_return waited.error();
  }
  spdlog::info("migrations: got the migration lock after {:.0f} ms", MillisSince(started));
  co_return Result<void>{};
}

awaitable<Result<std::vector<AppliedMigration>>> PgMigrator::ReadHistory(pg::Connection& connection,
                                                                         bool create_table) {
  const Params none;
  if (create_table) {
    auto created = co_await connection.Execute(pg::Statement{kCreateHistorySql, none, kBookkeepingTimeout});
    if (!created) co_return created.error();
  } else {
    auto exists = co_await connection.Execute(pg::Statement{kHistoryExistsSql, none, kBookkeepingTimeout});
    if (!exists) co_return exists.error();
    if (Text(*exists, 0, 0) != "t") co_return std::vector<AppliedMigration>{};
  }
  auto rows = co_await connection.Execute(pg::Statement{kReadHistorySql, none, kBookkeepingTimeout});
  if (!rows) co_return rows.error();
  std::vector<AppliedMigration> applied;
  for (int i = 0; i < PQntuples(rows->get()); ++i) {
    AppliedMigration a;
    const std::string version = Text(*rows, i, 0);
    std::from_chars(version.data(), version.data() + version.size(), a.version);
    a.name = Text(*rows, i, 1);
    a.checksum = Text(*rows, i, 2);
    a.applied_at = Text(*rows, i, 3);
    a.duration_ms = std::strtod(Text(*rows, i, 4).c_str(), nullptr);
    applied.push_back(std::move(a));
  }
  co_return applied;
}

awaitable<Result<MigrationStep>> PgMigrator::RunOne(pg::Connection& connection, const Migration& m,
                                                    Direction direction) {
  const bool up = direction == Direction::kUp;
  const std::vector<SqlStatement>& statements = up ? m.up : m.down;
  const std::string& file = up ? m.up_file : m.down_file;
  const Params none;
  const auto started = Clock::now();

  auto begun = co_await connection.Execute(pg::Statement{"BEGIN", none, options_.statement_timeout});
  if (!begun) co_return InMigration(begun.error(), m, up, "BEGIN");
  std::optional<Error> failure;
  for (std::size_t i = 0; i < statements.size(); ++i) {
    auto done = co_await connection.Execute(pg::Statement{statements[i].sql, none, options_.statement_timeout});
    if (!done) {
      failure = InMigration(
          done.error(), m, up,
          "statement " + std::to_string(i + 1) + " (" + file + " line " + std::to_string(statements[i].line) + ")");
      break;
    }
  }
  const double duration_ms = MillisSince(started);
  if (!failure) {
    const Params record = up ? Params{std::to_string(m.version), m.name, m.checksum, std::to_string(duration_ms)}
                             : Params{std::to_string(m.version)};
    auto recorded = co_await connection.Execute(
        pg::Statement{up ? kInsertHistorySql : kDeleteHistorySql, record, options_.statement_timeout});
    if (!recorded) failure = InMigration(recorded.error(), m, up, "its history row");
  }
  if (failure) {
    // Usually the connection still works and the server needs the ROLLBACK; when it broke, the
    // server rolls back as the session ends.
    if (!connection.broken()) {
      auto rolled_back = co_await connection.Execute(pg::Statement{"ROLLBACK", none, options_.statement_timeout});
      (void)rolled_back;
    }
    co_return *failure;
  }
  auto committed = co_await connection.Execute(pg::Statement{"COMMIT", none, options_.statement_timeout});
  if (!committed) co_return InMigration(committed.error(), m, up, "COMMIT");
  // COMMIT of a transaction that failed without us noticing answers ROLLBACK: nothing was kept.
  if (std::string_view(PQcmdStatus(committed->get())) != "COMMIT") {
    co_return InMigration(Error(ErrorCode::kQueryError, "the transaction was rolled back by the server"), m, up,
                          "COMMIT");
  }
  spdlog::info("migrations: {} {} ({}) in {:.1f} ms", up ? "applied" : "rolled back", m.version, m.name, duration_ms);
  co_return MigrationStep{m.version, m.name, duration_ms};
}

awaitable<Result<void>> PgMigrator::RunPlan(pg::Connection& connection, const std::vector<const Migration*>& plan,
                                            Direction direction, MigrationRun& run) {
  for (const Migration* m : plan) {
    auto step = co_await RunOne(connection, *m, direction);
    if (!step) {
      Error error = step.error();
      if (!run.steps.empty()) {
        error.message += std::string(" (") + (direction == Direction::kUp ? "applied" : "rolled back") +
                         " before it: " + VersionList(run.steps) + ")";
      }
      co_return error;
    }
    run.steps.push_back(std::move(*step));
  }
  co_return Result<void>{};
}

awaitable<Result<MigrationStatus>> PgMigrator::Status() {
  auto connection = co_await Connect();
  if (!connection) co_return connection.error();
  auto applied = co_await ReadHistory(**connection, false);
  if (!applied) co_return applied.error();
  co_return DescribeStatus(known_, *applied);
}

awaitable<Result<MigrationRun>> PgMigrator::Migrate(std::optional<int> target) {
  // An unknown target is the caller's mistake: answer it without touching the database.
  {
    auto plan = PlanMigrate(known_, {}, target);
    if (!plan) co_return plan.error();
  }
  auto connection = co_await Connect();
  if (!connection) co_return connection.error();
  pg::Connection& c = **connection;
  auto locked = co_await Lock(c);
  if (!locked) co_return locked.error();
  // Read under the lock: a runner that waited sees what the other one applied.
  auto applied = co_await ReadHistory(c, true);
  if (!applied) co_return applied.error();
  auto plan = PlanMigrate(known_, *applied, target);
  if (!plan) co_return plan.error();

  MigrationRun run;
  auto ran = co_await RunPlan(c, *plan, Direction::kUp, run);
  if (!ran) co_return ran.error();
  auto after = co_await ReadHistory(c, false);
  if (!after) co_return after.error();
  run.current = DescribeStatus(known_, *after).current;
  co_return run;
}

awaitable<Result<MigrationRun>> PgMigrator::Rollback(int steps) {
  if (steps < 1) co_return Error(ErrorCode::kInvalidRequest, "steps must be at least 1");
  auto connection = co_await Connect();
  if (!connection) co_return connection.error();
  pg::Connection& c = **connection;
  auto locked = co_await Lock(c);
  if (!locked) co_return locked.error();
  auto applied = co_await ReadHistory(c, false);
  if (!applied) co_return applied.error();
  auto plan = PlanRollback(known_, *applied, steps);
  if (!plan) co_return plan.error();

  MigrationRun run;
  auto ran = co_await RunPlan(c, *plan, Direction::kDown, run);
  if (!ran) co_return ran.error();
  auto after = co_await ReadHistory(c, false);
  if (!after) co_return after.error();
  run.current = DescribeStatus(known_, *after).current;
  co_return run;
}

awaitable<Result<ResetRun>> PgMigrator::Reset() {
  auto connection = co_await Connect();
  if (!connection) co_return connection.error();
  pg::Connection& c = **connection;
  auto locked = co_await Lock(c);
  if (!locked) co_return locked.error();
  auto applied = co_await ReadHistory(c, true);
  if (!applied) co_return applied.error();

  ResetRun reset;
  if (!applied->empty()) {
    auto down = PlanRollback(known_, *applied, static_cast<int>(applied->size()));
    if (!down) co_return down.error();
    auto ran = co_await RunPlan(c, *down, Direction::kDown, reset.rolled_back);
    if (!ran) co_return ran.error();
  }
  const std::vector<AppliedMigration> none;
  auto up = PlanMigrate(known_, none, std::nullopt);
  if (!up) co_return up.error();
  auto ran = co_await RunPlan(c, *up, Direction::kUp, reset.applied);
  if (!ran) co_return ran.error();
  auto after = co_await ReadHistory(c, false);
  if (!after) co_return after.error();
  reset.applied.current = DescribeStatus(known_, *after).current;
  co_return reset;
}

}  // namespace coredb::migrations
