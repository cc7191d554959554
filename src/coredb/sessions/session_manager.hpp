// The PoolManager and TransactionManager of DESIGN.md: leases on the pools of the three databases
// (postgresql, vector: pooled libpq connections; redis: dedicated connections), statements run on
// a lease, interactive transactions (a transaction is a record on a lease: on the caller's lease,
// or on one it opens for itself), and the one sweeper that reclaims what expired.
//
// Every lease and transaction has an owner (the client that made it: other clients get 404) and a
// sliding deadline. A lease runs one request at a time (a second one gets 409 CONFLICT, never
// interleaved protocol traffic). A lease given back or reclaimed goes through its pool's reset
// (ROLLBACK, DISCARD ALL; for Redis DISCARD, UNWATCH) before anyone else gets the connection.
//
// Not thread-safe: the event loop's thread only.
#pragma once

#include "coredb/adapters/postgres/pg_backend.hpp"
#include "coredb/adapters/redis/redis_pool.hpp"
#include "coredb/core/error.hpp"
#include "coredb/core/ports.hpp"
#include "coredb/core/principal.hpp"
#include "coredb/sessions/lease_registry.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace coredb::sessions {

struct SessionOptions {
  std::string instance_id = "local";
  milliseconds sweep_interval{100};
  // How long transaction/begin waits for a connection when it opens its own lease.
  milliseconds begin_acquire_timeout{5000};
};

// A lease as the API shows it.
struct LeaseInfo {
  std::string connection_id;
  Database database = Database::kPostgresql;
  std::string client;
  WallTime acquired_at;
  WallTime expires_at;
  bool in_transaction = false;
  std::optional<std::string> transaction_id;
};

struct TransactionInfo {
  std::string transaction_id;
  std::string connection_id;
  WallTime started_at;
  WallTime expires_at;
};

struct BeginOptions {
  // postgresql when not given; on a lease, the lease's (a different one is a 400).
  std::optional<Database> database;
  std::optional<std::string> connection_id;
  IsolationLevel isolation = IsolationLevel::kDefault;
  bool read_only = false;
  milliseconds idle_timeout{30000};
  milliseconds max_duration{300000};
};

// Where a statement runs: a lease (connectionId), a transaction (transactionId, optionally with
// its connectionId), and the database the caller named, if any (checked against the lease).
struct Target {
  std::optional<std::string_view> connection_id;
  std::optional<std::string_view> transaction_id;
  std::optional<Database> database;
};

// The per-database object of GET /api/v1/connections/stats.
struct DatabaseStats {
  std::size_t max = 0, size = 0, active = 0, idle = 0, leased = 0, waiting = 0;
  double utilization = 0;
  std::uint64_t acquired_total = 0, released_total = 0, expired_total = 0, timeouts_total = 0;
  milliseconds idle_timeout{0};  // the pool's, as configured
};

class SessionManager {
 public:
  SessionManager(boost::asio::any_io_executor executor, SessionOptions options, pg::PgBackend& postgres,
                 pg::PgBackend& vector, redis::RedisPool& redis);
  ~SessionManager();
  SessionManager(const SessionManager&) = delete;
  SessionManager& operator=(const SessionManager&) = delete;

  boost::asio::awaitable<Result<LeaseInfo>> Acquire(const Principal& caller, Database database,
                                                    milliseconds timeout, milliseconds ttl);
  // Gives the lease back (an open transaction is rolled back by the pool's reset). 409 while a
  // request runs on it.
  Result<void> Release(const Principal& caller, std::string_view connection_id);
  // DELETE /api/v1/connections/{id} (admin): ends any client's lease as Release would (an open
  // transaction rolled back by the pool's reset); its lessee's ids then answer 410 saying an
  // admin ended them. 404 for an unknown id, 409 while a request runs on it. The lease as it was.
  Result<LeaseInfo> End(std::string_view connection_id);

  // Applies cache invalidations (CacheManager::Invalidate in the application). Set once at start.
  using Invalidator = std::function<boost::asio::awaitable<void>(PendingInvalidation)>;
  void SetInvalidator(Invalidator invalidator) { invalidator_ = std::move(invalidator); }

  // One SQL statement on a lease or in a transaction; `touched` receives the lease after the
  // request (its new expiresAt). `invalidate` (cache tags/patterns the statement makes stale):
  // when the statement succeeded outside a transaction block, applied before this returns;
  // inside one, queued on the lease and applied once the block commits — by Commit, or by a
  // COMMIT/ROLLBACK sent as SQL (then applied either way: too much invalidation is harmless) —
  // and dropped by a rollback, an expiry or the end of the lease. A statement whose connection
  // was lost (outcome unknown) invalidates too.
  boost::asio::awaitable<Result<SqlOutcome>> Query(const Principal& caller, const Target& target,
                                                   SqlStatement statement, LeaseInfo& touched,
                                                   PendingInvalidation invalidate = {});
  // A batch on a lease or in a transaction (where it is always atomic: a failure aborts the
  // transaction, as any failing statement does).
  boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> Batch(const Principal& caller, const Target& target,
                                                                        std::span<const SqlStatement> statements,
                                                                        bool atomic, milliseconds timeout,
                                                                        LeaseInfo& touched);
  // One Redis command on a Redis lease (MULTI/EXEC/WATCH allowed there).
  boost::asio::awaitable<Result<boost::json::value>> RedisCommand(const Principal& caller,
                                                                  std::string_view connection_id,
                                                                  std::vector<std::string> command,
                                                                  milliseconds timeout, LeaseInfo& touched);

  boost::asio::awaitable<Result<TransactionInfo>> Begin(const Principal& caller, BeginOptions options);
  // The duration of the COMMIT in ms. The transaction's queued invalidations are applied after
  // the COMMIT succeeded (or was lost: outcome unknown), before this returns; never before it.
  boost::asio::awaitable<Result<double>> Commit(const Principal& caller, std::string_view transaction_id);
  boost::asio::awaitable<Result<void>> Rollback(const Principal& caller, std::string_view transaction_id);

  std::vector<LeaseInfo> List() const;
  DatabaseStats Stats(Database database) const;
  // PATCH /api/v1/pools/{database}: grows at once; shrinks as busy connections come back.
  void ConfigurePool(Database database, std::optional<std::size_t> size, std::optional<milliseconds> idle_timeout);

  // Shutdown: rolls back every transaction and gives every lease back (their ids then answer 404).
  void CloseAll();

  const LeaseRegistry& registry() const { return registry_; }

 private:
  class Use;
  // The caller's lease for `target`, checked: not busy, right database; an expired one is
  // reclaimed now and answers 410.
  Result<Lease*> Resolve(const Principal& caller, const Target& target);
  // After a statement: a lost connection ends the lease; a COMMIT/ROLLBACK statement ends the
  // transaction. Returns what to add to the error of a statement that failed in a transaction
  // (that it is now aborted), or "".
  std::string AfterStatement(Lease& lease, bool failed);
  void Reclaim(Lease& lease, Ending how, std::string reason);
  // Ends the transaction of `lease`; a lease opened for it alone is given back too.
  void FinishTransaction(Lease& lease, Ending how, std::string reason = {});
  LeaseInfo Info(const Lease& lease) const;
  // After a statement on `lease` (before AfterStatement): queues `invalidate` when a transaction
  // block is open, and returns what is to be applied now (see Query).
  PendingInvalidation SettleInvalidations(Lease& lease, bool succeeded, PendingInvalidation invalidate);
  // Runs the invalidator on `what` (nothing when empty or unset).
  boost::asio::awaitable<void> Apply(PendingInvalidation what);
  pg::PgBackend& Backend(Database database);
  static pg::Connection* PgConnectionOf(Lease& lease);
  // The transaction on a lease the caller still holds expired: end it, roll it back in the
  // background (the lease is busy meanwhile).
  void ExpireTransaction(Lease& lease);
  boost::asio::awaitable<void> RollbackExpired(Lease* lease, std::weak_ptr<char> alive);
  void ArmSweeper();
  void Sweep();

  boost::asio::any_io_executor executor_;
  SessionOptions options_;
  pg::PgBackend& postgres_;
  pg::PgBackend& vector_;
  redis::RedisPool& redis_;
  Invalidator invalidator_;
  LeaseRegistry registry_;
  boost::asio::steady_timer sweeper_;
  bool sweeper_armed_ = false;
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace coredb::sessions
