#include "coredb/sessions/session_manager.hpp"

#include "coredb/adapters/postgres/result_json.hpp"
#include "coredb/adapters/redis/redis_reply.hpp"
#include "coredb/observability/logging.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace coredb::sessions {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

namespace {

class PgLease final : public LeaseResource {
 public:
  explicit PgLease(pg::PooledConnection c) : connection(std::move(c)) {}
  ~PgLease() override {
    // A lessee's statements may have changed session state that no command tag shows
    // (pg_advisory_lock(), set_config()): the pool resets the session before reuse.
    if (connection) connection->MarkNeedsReset();
  }
  pg::PooledConnection connection;
};

class RedisLease final : public LeaseResource {
 public:
  explicit RedisLease(redis::RedisPool::Handle h) : handle(std::move(h)) {}
  redis::RedisPool::Handle handle;  // the pool cleans it (DISCARD, UNWATCH) on its way back
};

double MillisSince(Clock::time_point start) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count()) /
         1000.0;
}

std::string WrongDatabase(const Lease& lease, std::string_view wanted) {
  return "connection '" + lease.id + "' is a " + DatabaseName(lease.database) + " lease; " + std::string(wanted);
}

}  // namespace

// Marks a lease busy for one request; when the request ends, the lease (and its transaction)
// slide to now + ttl. Safe if the manager is destroyed first.
class SessionManager::Use {
 public:
  Use(SessionManager& manager, Lease& lease) : alive_(manager.alive_), lease_(&lease) { lease.busy = true; }
  ~Use() { Finish(); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  // Ends the use now (the lease may then be removed). False when the manager is gone.
  bool Finish() {
    if (lease_ == nullptr) return !alive_.expired();
    Lease* lease = std::exchange(lease_, nullptr);
    if (alive_.expired()) return false;
    lease->busy = false;
    const auto now = Clock::now();
    lease->last_used = now;
    if (lease->tx) lease->tx->last_used = now;
    return true;
  }

 private:
  std::weak_ptr<char> alive_;
  Lease* lease_;
};

SessionManager::SessionManager(asio::any_io_executor executor, SessionOptions options, pg::PgBackend& postgres,
                               pg::PgBackend& vector, redis::RedisPool& redis)
    : executor_(executor),
      options_(std::move(options)),
      postgres_(postgres),
      vector_(vector),
      redis_(redis),
      registry_(options_.instance_id),
      sweeper_(executor) {}

SessionManager::~SessionManager() { alive_.reset(); }

pg::PgBackend& SessionManager::Backend(Database database) {
  return database == Database::kVector ? vector_ : postgres_;
}

pg::Connection* SessionManager::PgConnectionOf(Lease& lease) {
  auto* resource = dynamic_cast<PgLease*>(lease.resource.get());
  return resource != nullptr ? resource->connection.get() : nullptr;
}

LeaseInfo SessionManager::Info(const Lease& lease) const {
  LeaseInfo info;
  info.connection_id = lease.id;
  info.database = lease.database;
  info.client = lease.client_name;
  info.acquired_at = lease.acquired_wall;
  const auto now = Clock::now();
  info.expires_at = SystemClock::now() + std::chrono::duration_cast<SystemClock::duration>(lease.Deadline() - now);
  if (lease.tx) {
    info.in_transaction = true;
    info.transaction_id = lease.tx->id;
  } else if (auto* resource = dynamic_cast<const PgLease*>(lease.resource.get())) {
    // A transaction block the lessee opened itself with BEGIN.
    info.in_transaction = resource->connection && resource->connection->transaction_status() != PQTRANS_IDLE;
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// leases

asio::awaitable<Result<LeaseInfo>> SessionManager::Acquire(const Principal& caller, Database database,
                                                           milliseconds timeout, milliseconds ttl) {
  std::unique_ptr<LeaseResource> resource;
  const std::weak_ptr<char> alive = alive_;
  if (database == Database::kRedis) {
    auto handle = co_await redis_.Acquire(timeout);
    if (!handle) co_return handle.error();
    resource = std::make_unique<RedisLease>(std::move(*handle));
  } else {
    auto connection = co_await Backend(database).pool().Acquire(timeout);
    if (!connection) co_return connection.error();
    resource = std::make_unique<PgLease>(std::move(*connection));
  }
  if (alive.expired()) co_return Error(ErrorCode::kDatabaseUnavailable, "the service is shutting down");
  Lease& lease = registry_.Add(database, caller, ttl, std::move(resource), Clock::now(), SystemClock::now());
  ArmSweeper();
  co_return Info(lease);
}

Result<void> SessionManager::Release(const Principal& caller, std::string_view connection_id) {
  auto found = registry_.FindLease(connection_id, caller, Clock::now());
  if (!found) return found.error();
  Lease& lease = **found;
  if (lease.busy) {
    return Error(ErrorCode::kConflict,
                 "connection '" + lease.id + "' is running a request; release it when that request has answered");
  }
  auto resource = registry_.Remove(lease, Ending::kReleased, Clock::now());
  resource.reset();  // back to the pool, which resets the session
  return Result<void>{};
}

Result<LeaseInfo> SessionManager::End(std::string_view connection_id) {
  Lease* lease = registry_.FindAnyLease(connection_id);
  if (lease == nullptr) return Error(ErrorCode::kNotFound, "unknown connection '" + std::string(connection_id) + "'");
  if (lease->busy) {
    return Error(ErrorCode::kConflict,
                 "connection '" + lease->id + "' is running a request; end it when that request has answered");
  }
  LeaseInfo info = Info(*lease);
  observability::LogEvent(spdlog::level::warn, "lease ended by an admin",
                          {{"connectionId", lease->id},
                           {"database", DatabaseName(lease->database)},
                           {"client", lease->client_name},
                           {"inTransaction", info.in_transaction}});
  auto resource = registry_.Remove(*lease, Ending::kEndedByAdmin, Clock::now());
  resource.reset();  // back to the pool, which resets the session (and rolls back)
  return info;
}

Result<Lease*> SessionManager::Resolve(const Principal& caller, const Target& target) {
  const auto now = Clock::now();
  Result<Lease*> found = target.transaction_id ? registry_.FindTransaction(*target.transaction_id, caller, now)
                                               : registry_.FindLease(*target.connection_id, caller, now);
  if (!found) return found;
  Lease* lease = *found;
  if (target.transaction_id && target.connection_id && *target.connection_id != lease->id) {
    return Error(ErrorCode::kInvalidRequest, "transactionId '" + std::string(*target.transaction_id) +
                                                 "' runs on connectionId '" + lease->id + "', not '" +
                                                 std::string(*target.connection_id) + "'");
  }
  if (lease->busy) {
    return Error(ErrorCode::kConflict, "connection '" + lease->id +
                                           "' is already running a request; send one request at a time per lease");
  }
  if (lease->Deadline() <= now) {
    // Past its deadline but not swept yet: reclaim it now rather than let it be used.
    if (lease->tx && !lease->implicit && lease->LeaseDeadline() > now) {
      ExpireTransaction(*lease);
      if (target.transaction_id) return registry_.FindTransaction(*target.transaction_id, caller, now).error();
      return Error(ErrorCode::kConflict, "connection '" + lease->id +
                                             "' is rolling back its expired transaction; retry in a moment");
    }
    Reclaim(*lease, Ending::kExpired, "");
    return target.transaction_id ? registry_.FindTransaction(*target.transaction_id, caller, now).error()
                                 : registry_.FindLease(*target.connection_id, caller, now).error();
  }
  if (target.database && *target.database != lease->database) {
    return Error(ErrorCode::kInvalidRequest,
                 WrongDatabase(*lease, std::string("the request names database ") + DatabaseName(*target.database)));
  }
  return lease;
}

void SessionManager::Reclaim(Lease& lease, Ending how, std::string reason) {
  observability::LogEvent(spdlog::level::warn, how == Ending::kExpired ? "lease expired" : "lease lost",
                          {{"connectionId", lease.id},
                           {"database", DatabaseName(lease.database)},
                           {"client", lease.client_name},
                           {"inTransaction", lease.tx.has_value()},
                           {"reason", reason}});
  auto resource = registry_.Remove(lease, how, Clock::now(), std::move(reason));
  resource.reset();
}

void SessionManager::FinishTransaction(Lease& lease, Ending how, std::string reason) {
  const auto now = Clock::now();
  lease.pending_invalidation = {};  // a commit took them before; anything else drops them
  registry_.EndTransaction(lease, how, now, std::move(reason));
  if (lease.implicit && !lease.busy) {
    auto resource = registry_.Remove(lease, Ending::kReleased, now);
    resource.reset();
  }
}

std::string SessionManager::AfterStatement(Lease& lease, bool failed) {
  pg::Connection* connection = PgConnectionOf(lease);
  if (connection == nullptr) return {};
  if (connection->broken()) {
    Reclaim(lease, Ending::kLost, "the connection to the database was lost");
    return {};
  }
  if (!lease.tx) return {};
  const auto status = connection->transaction_status();
  if (status == PQTRANS_IDLE) {
    FinishTransaction(lease, Ending::kEndedByStatement, "a COMMIT or ROLLBACK statement ended it");
  } else if (failed && status == PQTRANS_INERROR) {
    return " (the transaction is now aborted: later statements fail with 25P02 until it is rolled back)";
  }
  return {};
}

PendingInvalidation SessionManager::SettleInvalidations(Lease& lease, bool succeeded, PendingInvalidation invalidate) {
  pg::Connection* connection = PgConnectionOf(lease);
  const bool lost = connection == nullptr || connection->broken();
  const bool in_block = !lost && connection->transaction_status() != PQTRANS_IDLE;
  PendingInvalidation now;
  if (succeeded || lost) {
    if (in_block) {
      lease.pending_invalidation.Merge(std::move(invalidate));
    } else {
      now = std::move(invalidate);
    }
  }
  // The block ended (COMMIT/ROLLBACK as SQL) or the connection is gone (outcome unknown).
  if (!in_block && !lease.pending_invalidation.empty()) now.Merge(std::exchange(lease.pending_invalidation, {}));
  return now;
}

asio::awaitable<void> SessionManager::Apply(PendingInvalidation what) {
  if (what.empty() || !invalidator_) co_return;
  const Invalidator invalidator = invalidator_;  // this frame keeps it alive
  co_await invalidator(std::move(what));
}

namespace {

template <class T>
void AppendToError(Result<T>& result, const std::string& note) {
  if (result || note.empty()) return;
  // A 25P02 failed because the transaction was aborted before, and already says so (sqlstate.cpp).
  if (result.error().pg && result.error().pg->sqlstate == "25P02") return;
  Error error = result.error();
  error.message += note;
  result = std::move(error);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// statements

asio::awaitable<Result<SqlOutcome>> SessionManager::Query(const Principal& caller, const Target& target,
                                                          SqlStatement statement, LeaseInfo& touched,
                                                          PendingInvalidation invalidate) {
  auto found = Resolve(caller, target);
  if (!found) co_return found.error();
  Lease& lease = **found;
  if (lease.database == Database::kRedis) {
    co_return Error(ErrorCode::kInvalidRequest, WrongDatabase(lease, "send 'command' with database redis"));
  }
  if (lease.tx) {
    // A statement may not outlive the transaction's maximum duration.
    const auto left = std::chrono::duration_cast<milliseconds>(lease.tx->max_deadline - Clock::now());
    statement.timeout = std::clamp(left, milliseconds(1), statement.timeout);
  }
  statement.scope = CallerScope(caller);  // PostgreSQL enforces read-only / role (PgBackend::RunScoped)
  Use use(*this, lease);
  const std::string lease_id = lease.id;
  auto outcome = co_await Backend(lease.database).RunOn(*PgConnectionOf(lease), statement);
  // A busy lease is never removed: `lease` is still valid once the manager is.
  if (!use.Finish()) co_return Error(ErrorCode::kDatabaseUnavailable, "the service is shutting down");
  PendingInvalidation apply = SettleInvalidations(lease, outcome.has_value(), std::move(invalidate));
  AppendToError(outcome, AfterStatement(lease, !outcome));
  if (auto again = registry_.FindLease(lease_id, caller, Clock::now())) touched = Info(**again);
  co_await Apply(std::move(apply));
  co_return outcome;
}

asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> SessionManager::Batch(
    const Principal& caller, const Target& target, std::span<const SqlStatement> statements, bool atomic,
    milliseconds timeout, LeaseInfo& touched) {
  auto found = Resolve(caller, target);
  if (!found) co_return found.error();
  Lease& lease = **found;
  if (lease.database == Database::kRedis) {
    co_return Error(ErrorCode::kInvalidRequest, WrongDatabase(lease, "batches are for SQL databases"));
  }
  if (lease.tx) {
    atomic = true;  // API.md: in a transaction a failure aborts it, as any statement's would
    const auto left = std::chrono::duration_cast<milliseconds>(lease.tx->max_deadline - Clock::now());
    timeout = std::clamp(left, milliseconds(1), timeout);
  }
  std::vector<SqlStatement> scoped(statements.begin(), statements.end());
  for (SqlStatement& statement : scoped) statement.scope = CallerScope(caller);
  Use use(*this, lease);
  const std::string lease_id = lease.id;
  auto outcome = co_await Backend(lease.database).RunBatchOn(PgConnectionOf(lease), scoped, atomic, timeout);
  if (!use.Finish()) co_return Error(ErrorCode::kDatabaseUnavailable, "the service is shutting down");
  Result<SqlOutcome>* failed_item = nullptr;
  if (outcome) {
    for (auto& item : *outcome) {
      if (!item) {
        failed_item = &item;
        break;
      }
    }
  }
  // A batch may end the transaction block (a COMMIT entry): queued invalidations then apply.
  PendingInvalidation apply = SettleInvalidations(lease, false, {});
  const std::string note = AfterStatement(lease, !outcome || failed_item != nullptr);
  AppendToError(outcome, note);
  if (failed_item != nullptr) AppendToError(*failed_item, note);
  if (auto again = registry_.FindLease(lease_id, caller, Clock::now())) touched = Info(**again);
  co_await Apply(std::move(apply));
  co_return outcome;
}

asio::awaitable<Result<boost::json::value>> SessionManager::RedisCommand(const Principal& caller,
                                                                         std::string_view connection_id,
                                                                         std::vector<std::string> command,
                                                                         milliseconds timeout, LeaseInfo& touched) {
  Target target;
  target.connection_id = connection_id;
  auto found = Resolve(caller, target);
  if (!found) co_return found.error();
  Lease& lease = **found;
  auto* resource = dynamic_cast<RedisLease*>(lease.resource.get());
  if (resource == nullptr) {
    co_return Error(ErrorCode::kInvalidRequest, WrongDatabase(lease, "send 'sql' (database postgresql or vector)"));
  }
  Use use(*this, lease);
  redis::RedisClient* client = resource->handle.get();
  auto reply = co_await client->Command(std::move(command), timeout);
  if (!use.Finish()) co_return Error(ErrorCode::kDatabaseUnavailable, "the service is shutting down");
  if (client->lost()) {
    Reclaim(lease, Ending::kLost, "the connection to redis was lost");
  } else {
    touched = Info(lease);
  }
  if (!reply) co_return reply.error();
  co_return redis::ReplyToJson(*reply);
}

// ---------------------------------------------------------------------------------------------
// transactions

asio::awaitable<Result<TransactionInfo>> SessionManager::Begin(const Principal& caller, BeginOptions options) {
  const std::weak_ptr<char> alive = alive_;
  // API.md: a read-only client's transactions are always read-only.
  if (!caller.Has(Scope::kWrite) && !caller.Has(Scope::kAdmin)) options.read_only = true;
  Lease* lease = nullptr;
  if (options.connection_id) {
    Target target;
    target.connection_id = *options.connection_id;
    target.database = options.database;
    auto found = Resolve(caller, target);
    if (!found) co_return found.error();
    lease = *found;
    if (lease->database == Database::kRedis) {
      co_return Error(ErrorCode::kInvalidRequest, WrongDatabase(*lease, "transactions are for SQL databases "
                                                                        "(use MULTI/EXEC on a redis lease)"));
    }
    if (lease->tx) {
      co_return Error(ErrorCode::kConflict,
                      "connection '" + lease->id + "' already has an open transaction '" + lease->tx->id + "'");
    }
    if (PgConnectionOf(*lease)->transaction_status() != PQTRANS_IDLE) {
      co_return Error(ErrorCode::kConflict, "connection '" + lease->id +
                                                "' already has a transaction block open (a BEGIN sent as SQL)");
    }
  } else {
    const Database database = options.database.value_or(Database::kPostgresql);
    auto connection = co_await Backend(database).pool().Acquire(options_.begin_acquire_timeout);
    if (!connection) co_return connection.error();
    if (alive.expired()) co_return Error(ErrorCode::kDatabaseUnavailable, "the service is shutting down");
    lease = &registry_.Add(database, caller, options.idle_timeout,
                           std::make_unique<PgLease>(std::move(*connection)), Clock::now(), SystemClock::now(),
                           /*implicit=*/true);
    ArmSweeper();
  }

  std::string sql = "BEGIN";
  if (options.isolation != IsolationLevel::kDefault) {
    sql += " ISOLATION LEVEL ";
    sql += IsolationLevelSql(options.isolation);
  }
  sql += options.read_only ? " READ ONLY" : " READ WRITE";
  Use use(*this, *lease);
  pg::Connection* connection = PgConnectionOf(*lease);
  // A confined caller (read-only, or a PostgreSQL role): BEGIN, SET LOCAL ROLE and the scope check
  // (which takes the first snapshot: SET TRANSACTION READ WRITE is refused afterwards).
  const SqlScope scope = CallerScope(caller);
  Result<void> begun;
  if (scope.confined()) {
    auto confined = co_await Backend(lease->database).BeginOn(*connection, sql, scope, options_.begin_acquire_timeout);
    begun = std::move(confined);
  } else {
    auto plain = co_await connection->Execute(pg::Statement{sql, {}, options_.begin_acquire_timeout});
    if (!plain) begun = plain.error();
  }
  if (!use.Finish()) co_return Error(ErrorCode::kDatabaseUnavailable, "the service is shutting down");
  if (!begun || connection->broken()) {
    if (connection->broken()) {
      Reclaim(*lease, Ending::kLost, "the connection to the database was lost");
    } else if (lease->implicit) {
      auto resource = registry_.Remove(*lease, Ending::kReleased, Clock::now());
    }
    co_return begun ? Error(ErrorCode::kDatabaseUnavailable, "the connection was lost while beginning")
                    : begun.error();
  }

  const auto now = Clock::now();
  TransactionState state;
  state.started_wall = SystemClock::now();
  state.started = now;
  state.last_used = now;
  state.idle_timeout = options.idle_timeout;
  state.max_deadline = now + options.max_duration;
  state.read_only = options.read_only;
  state.isolation = options.isolation;
  TransactionState& tx = registry_.BeginTransaction(*lease, std::move(state));
  TransactionInfo info;
  info.transaction_id = tx.id;
  info.connection_id = lease->id;
  info.started_at = tx.started_wall;
  info.expires_at = Info(*lease).expires_at;
  co_return info;
}

asio::awaitable<Result<double>> SessionManager::Commit(const Principal& caller, std::string_view transaction_id) {
  auto found = Resolve(caller, Target{std::nullopt, transaction_id, std::nullopt});
  if (!found) co_return found.error();
  Lease* lease = *found;
  const std::string tx_id = lease->tx->id;
  pg::Connection* connection = PgConnectionOf(*lease);
  const bool aborted = connection->transaction_status() == PQTRANS_INERROR;
  Use use(*this, *lease);
  const auto started = Clock::now();
  const char* sql = aborted ? "ROLLBACK" : "COMMIT";
  // Taken now: whatever ends the transaction below must not apply them before the COMMIT did.
  PendingInvalidation queued = std::exchange(lease->pending_invalidation, {});
  auto result = co_await connection->Execute(pg::Statement{sql, {}, milliseconds(30000)});
  const double duration = MillisSince(started);
  if (!use.Finish()) co_return Error(ErrorCode::kDatabaseUnavailable, "the service is shutting down");
  if (connection->broken()) {
    Reclaim(*lease, Ending::kLost, "the connection was lost during COMMIT");
    if (!aborted) co_await Apply(std::move(queued));  // it may have committed
    co_return Error(ErrorCode::kDatabaseUnavailable,
                    "the connection was lost during COMMIT of transaction '" + tx_id + "': its outcome is unknown");
  }
  // PostgreSQL answers COMMIT of a failed transaction with the tag ROLLBACK.
  const bool rolled_back = aborted || (result && pg::CommandVerb(result->get()) == "ROLLBACK");
  if (rolled_back) {
    FinishTransaction(*lease, Ending::kRolledBack, "it was aborted by a failed statement");
    co_return Error(ErrorCode::kConflict, "transaction '" + tx_id +
                                              "' was aborted by a failed statement and has been rolled back");
  }
  if (!result) {
    // A failing COMMIT (deferred constraint, serialization failure) ends the transaction.
    FinishTransaction(*lease, Ending::kRolledBack, "its COMMIT failed");
    Error error = result.error();
    error.message = "COMMIT failed and the transaction was rolled back: " + error.message;
    co_return error;
  }
  FinishTransaction(*lease, Ending::kCommitted);
  co_await Apply(std::move(queued));  // after the COMMIT, before the caller hears of it
  co_return duration;
}

asio::awaitable<Result<void>> SessionManager::Rollback(const Principal& caller, std::string_view transaction_id) {
  auto found = Resolve(caller, Target{std::nullopt, transaction_id, std::nullopt});
  if (!found) co_return found.error();
  Lease* lease = *found;
  pg::Connection* connection = PgConnectionOf(*lease);
  Use use(*this, *lease);
  auto result = co_await connection->Execute(pg::Statement{"ROLLBACK", {}, milliseconds(30000)});
  if (!use.Finish()) co_return Error(ErrorCode::kDatabaseUnavailable, "the service is shutting down");
  if (!result || connection->broken()) {
    // The session is in doubt; a closed or reset session has no transaction either way.
    Reclaim(*lease, Ending::kLost, "ROLLBACK failed; the session was discarded");
    co_return Result<void>{};
  }
  FinishTransaction(*lease, Ending::kRolledBack);
  co_return Result<void>{};
}

// ---------------------------------------------------------------------------------------------
// expiry

void SessionManager::ExpireTransaction(Lease& lease) {
  // The transaction's deadline passed on a lease the caller still holds: its id answers 410 from
  // now on; the lease stays, busy until the ROLLBACK is done.
  observability::LogEvent(spdlog::level::warn, "transaction expired",
                          {{"transactionId", lease.tx->id}, {"connectionId", lease.id}, {"client", lease.client_name}});
  registry_.EndTransaction(lease, Ending::kExpired, Clock::now());
  lease.pending_invalidation = {};
  lease.busy = true;
  asio::co_spawn(executor_, RollbackExpired(&lease, alive_), asio::detached);
}

asio::awaitable<void> SessionManager::RollbackExpired(Lease* lease, std::weak_ptr<char> alive) {
  pg::Connection* connection = PgConnectionOf(*lease);
  auto result = co_await connection->Execute(pg::Statement{"ROLLBACK", {}, milliseconds(5000)});
  if (alive.expired()) co_return;
  // Busy meanwhile: nothing removed the lease.
  lease->busy = false;
  lease->last_used = Clock::now();
  if (!result || connection->broken()) Reclaim(*lease, Ending::kLost, "rolling back its expired transaction failed");
}

void SessionManager::ArmSweeper() {
  if (sweeper_armed_ || registry_.empty()) return;
  sweeper_armed_ = true;
  sweeper_.expires_after(options_.sweep_interval);
  sweeper_.async_wait([this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
    if (alive.expired()) return;
    sweeper_armed_ = false;
    if (ec) return;
    Sweep();
    ArmSweeper();
  });
}

void SessionManager::Sweep() {
  const auto now = Clock::now();
  registry_.PruneTombstones(now);
  for (Lease* lease : registry_.Expired(now)) {
    if (lease->tx && !lease->implicit && lease->LeaseDeadline() > now) {
      ExpireTransaction(*lease);
    } else {
      Reclaim(*lease, Ending::kExpired, "");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// stats and settings

std::vector<LeaseInfo> SessionManager::List() const {
  std::vector<LeaseInfo> out;
  for (const Lease* lease : registry_.All()) out.push_back(Info(*lease));
  return out;
}

namespace {

// The fields RedisPoolStats and pg::PoolStats share.
template <class PoolStatsT>
void CopyPoolFields(DatabaseStats& s, const PoolStatsT& p) {
  s.max = p.max;
  s.size = p.size;
  s.active = p.active;
  s.idle = p.idle;
  s.waiting = p.waiting;
  s.timeouts_total = p.timeouts_total;
}

}  // namespace

DatabaseStats SessionManager::Stats(Database database) const {
  DatabaseStats s;
  if (database == Database::kRedis) {
    CopyPoolFields(s, redis_.Stats());
    s.idle_timeout = redis_.idle_timeout();
  } else {
    const pg::Pool& pool = (database == Database::kVector ? vector_ : postgres_).pool();
    CopyPoolFields(s, pool.Stats());
    s.idle_timeout = pool.options().idle_timeout;
  }
  const auto c = registry_.Counters(database);
  s.leased = c.leased;
  s.acquired_total = c.acquired_total;
  s.released_total = c.released_total;
  s.expired_total = c.expired_total;
  s.utilization = s.max == 0 ? 0.0 : std::min(1.0, static_cast<double>(s.active) / static_cast<double>(s.max));
  return s;
}

void SessionManager::ConfigurePool(Database database, std::optional<std::size_t> size,
                                   std::optional<milliseconds> idle_timeout) {
  if (database == Database::kRedis) {
    if (size) redis_.Resize(*size);
    if (idle_timeout) redis_.SetIdleTimeout(*idle_timeout);
    return;
  }
  pg::Pool& pool = Backend(database).pool();
  if (size) pool.Resize(*size);
  if (idle_timeout) pool.SetIdleTimeout(*idle_timeout);
}

void SessionManager::CloseAll() {
  const auto now = Clock::now();
  std::vector<const Lease*> all = registry_.All();
  for (const Lease* lease : all) {
    if (lease->busy) continue;  // its request is being cancelled; the pool closes it later
    auto resource = registry_.Remove(const_cast<Lease&>(*lease), Ending::kReleased, now);
    resource.reset();
  }
  sweeper_.cancel();
}

}  // namespace coredb::sessions
