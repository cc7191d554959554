// The migration engine on PostgreSQL, on the event loop (non-blocking pg::Connection; every
// wait has a deadline).
//
// Each call opens its own connection (never a pooled one: the advisory lock is a session lock)
// and, for anything that writes, first takes the session-level advisory lock kMigrationLockKey:
// two runners (two instances starting together, CLI and HTTP, ...) are serialised, the second
// one waits up to lock_timeout and then reads the history again, so nothing is applied twice.
// Past the deadline it gives up with kConflict and changes nothing. The lock dies with the
// connection, so a crashed runner never leaves it held.
//
// Each migration runs in its own transaction with its history row, statement by statement
// (SplitSqlScript): it is applied entirely or not at all. A failure stops the run; the ones
// applied before it stay applied. History: coredb_schema_migrations (version, name, checksum,
// applied_at, duration_ms), created on the first run.
//
// Not for statements that refuse to run in a transaction (CREATE INDEX CONCURRENTLY, ...).
#pragma once

#include "coredb/adapters/postgres/cancel_worker.hpp"
#include "coredb/adapters/postgres/pg_connection.hpp"
#include "coredb/migrations/migrator.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>

namespace coredb::migrations {

// pg_advisory_lock key of migration runs ("coredb" in ASCII, then 1). Per database.
inline constexpr std::int64_t kMigrationLockKey = 0x636f726564620001LL;
inline constexpr const char* kHistoryTable = "coredb_schema_migrations";

struct MigratorOptions {
  pg::ConnectionOptions connection;                     // conninfo and connect timeout
  std::chrono::milliseconds lock_timeout{30000};        // waiting for another runner
  std::chrono::milliseconds statement_timeout{300000};  // each statement of a migration
};

struct ResetRun {
  MigrationRun rolled_back;
  MigrationRun applied;
};

class PgMigrator final : public Migrator {
 public:
  // `known` may come in any order. `cancel_worker` must outlive the migrator.
  PgMigrator(boost::asio::any_io_executor executor, pg::CancelWorker& cancel_worker, std::vector<Migration> known,
             MigratorOptions options);

  boost::asio::awaitable<Result<MigrationStatus>> Status() override;
  boost::asio::awaitable<Result<MigrationRun>> Migrate(std::optional<int> target) override;
  boost::asio::awaitable<Result<MigrationRun>> Rollback(int steps) override;
  // Rolls back every applied migration (down parts, newest first), then applies them all, under
  // one hold of the lock. Refused like Rollback when the history is not this binary's.
  boost::asio::awaitable<Result<ResetRun>> Reset();

  const std::vector<Migration>& known() const { return known_; }

 private:
  enum class Direction { kUp, kDown };

  boost::asio::awaitable<Result<std::unique_ptr<pg::Connection>>> Connect();
  boost::asio::awaitable<Result<void>> Lock(pg::Connection& connection);
  boost::asio::awaitable<Result<std::vector<AppliedMigration>>> ReadHistory(pg::Connection& connection,
                                                                            bool create_table);
  boost::asio::awaitable<Result<MigrationStep>> RunOne(pg::Connection& connection, const Migration& migration,
                                                       Direction direction);
  // Runs `plan` in order, stopping at the first failure; `run` keeps what succeeded.
  boost::asio::awaitable<Result<void>> RunPlan(pg::Connection& connection, const std::vector<const Migration*>& plan,
                                               Direction direction, MigrationRun& run);

  boost::asio::any_io_executor executor_;
  pg::CancelWorker& cancel_worker_;
  std::vector<Migration> known_;
  MigratorOptions options_;
};

}  // namespace coredb::migrations
