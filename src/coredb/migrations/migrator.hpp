// The migration engine's contract, and the decisions it takes before touching the database.
//
// `Migrator` is what the HTTP handlers and the CLI call (PgMigrator implements it on
// PostgreSQL). The planning functions are pure: given the known set and the history table they
// say what to apply or undo, or why not — so the rules are unit-tested without a server:
//   * an applied migration whose up file changed (checksum) is refused, naming its version;
//   * an applied version this binary does not know is refused (the database is newer);
//   * a pending version below an applied one is refused (history stays linear, so rollback is
//     well defined);
//   * rollback with nothing applied, or more steps than applied, is a conflict: nothing changes.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/migrations/migration.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <vector>

namespace coredb::migrations {

// One row of the history table (coredb_schema_migrations).
struct AppliedMigration {
  int version = 0;
  std::string name;
  std::string checksum;
  std::string applied_at;  // RFC 3339 UTC, milliseconds
  double duration_ms = 0;
};

struct MigrationStatus {
  std::optional<int> current;  // highest applied version; nullopt when none is
  std::vector<int> pending;    // known, not applied, ascending
  std::vector<AppliedMigration> history;
  std::vector<std::string> problems;  // changed checksums, unknown or out-of-order versions
};

// A migration applied or rolled back by one call.
struct MigrationStep {
  int version = 0;
  std::string name;
  double duration_ms = 0;
};

struct MigrationRun {
  std::vector<MigrationStep> steps;  // in the order they ran
  std::optional<int> current;        // afterwards
};

class Migrator {
 public:
  virtual ~Migrator() = default;
  virtual boost::asio::awaitable<Result<MigrationStatus>> Status() = 0;
  // Applies the pending migrations up to `target` (all when nullopt), each in its own transaction.
  // kInvalidRequest: unknown target. kConflict: a refused history (see above), or the migration
  // lock not obtained in time (nothing applied).
  virtual boost::asio::awaitable<Result<MigrationRun>> Migrate(std::optional<int> target) = 0;
  // Runs the down part of the last `steps` applied migrations, newest first.
  virtual boost::asio::awaitable<Result<MigrationRun>> Rollback(int steps) = 0;
};

// --- planning (pure) ---------------------------------------------------------------------------

MigrationStatus DescribeStatus(const std::vector<Migration>& known, const std::vector<AppliedMigration>& applied);
// The migrations to apply, ascending.
Result<std::vector<const Migration*>> PlanMigrate(const std::vector<Migration>& known,
                                                  const std::vector<AppliedMigration>& applied,
                                                  std::optional<int> target);
// The migrations to undo, newest first.
Result<std::vector<const Migration*>> PlanRollback(const std::vector<Migration>& known,
                                                   const std::vector<AppliedMigration>& applied, int steps);

// {current, pending, history: [{version, name, appliedAt, duration, checksum}], problems} (API.md).
boost::json::object StatusToJson(const MigrationStatus& status);

}  // namespace coredb::migrations
