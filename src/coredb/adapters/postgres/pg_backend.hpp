// The SqlBackend port over a PostgreSQL pool: encodes JSON params, runs one statement on a
// pooled connection, learns unknown type OIDs (extension types such as pgvector's `vector`)
// from pg_type once per database, and turns the result into the API's JSON.
#pragma once

#include "coredb/adapters/postgres/pg_pool.hpp"
#include "coredb/adapters/postgres/type_registry.hpp"
#include "coredb/core/circuit_breaker.hpp"
#include "coredb/core/ports.hpp"

#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace coredb::pg {

class PgBackend final : public SqlBackend {
 public:
  PgBackend(Pool& pool, std::size_t max_result_bytes) : pool_(pool), max_result_bytes_(max_result_bytes) {}

  boost::asio::awaitable<Result<SqlOutcome>> Run(const SqlStatement& statement) override;
  coredb::PoolStats Stats() const override;

  // One statement on `connection` (a lease's), which must stay valid until this completes.
  boost::asio::awaitable<Result<SqlOutcome>> RunOn(Connection& connection, const SqlStatement& statement);

  // A batch in one round trip (Connection::ExecuteBatch) on `connection`, or on a pooled one when
  // null. One Result per statement, in order; `timeout` bounds the pool wait and the batch. The
  // results share one MAX_RESULT_BYTES budget.
  boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> RunBatch(std::span<const SqlStatement> statements,
                                                                           bool atomic,
                                                                           std::chrono::milliseconds timeout) override {
    return RunBatchOn(nullptr, statements, atomic, timeout);
  }
  boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> RunBatchOn(Connection* connection,
                                                                             std::span<const SqlStatement> statements,
                                                                             bool atomic,
                                                                             std::chrono::milliseconds timeout);

  // One statement in a READ ONLY transaction on a pooled connection, in one round trip (a
  // pipelined `BEGIN READ ONLY`, the statement, `COMMIT`, one Sync): PostgreSQL itself refuses a
  // statement that would write (sqlstate 25006, nextval() and writing functions included), which
  // comes back as 400 INVALID_REQUEST "cache applies to reads only" with nothing written. For
  // cached statements (`cache` of a query). A refused statement leaves the connection in an
  // aborted block; the pool resets it before reuse.
  boost::asio::awaitable<Result<SqlOutcome>> RunReadOnly(const SqlStatement& statement);
  // A transaction for a confined scope (SqlScope::confined) on a lease: `begin_sql` (BEGIN with
  // its isolation and READ ONLY), SET LOCAL ROLE, and the scope check, in one round trip. The
  // check's SELECT takes the transaction's first snapshot, so a later `SET TRANSACTION READ WRITE`
  // (or set_config('transaction_read_only', 'off', ...)) is refused by PostgreSQL. On failure
  // nothing stays open.
  boost::asio::awaitable<Result<void>> BeginOn(Connection& connection, std::string_view begin_sql,
                                               const SqlScope& scope, std::chrono::milliseconds timeout);

  // pgvector values as parameters: a JSON number array whose parameter PostgreSQL infers as
  // `vector` or `halfvec` is sent as "[1,2,3]" (their text form) instead of an array literal.
  // Finding the inferred type costs one extra round trip (Connection::DescribeParams), paid only
  // by statements that have such an array parameter. Off by default (the postgresql pool).
  void EnableVectorParams() { vector_params_ = true; }

  // The backend's circuit breaker (not owned; null: none; set once at start). Every statement and
  // batch asks it first — open: 503 CIRCUIT_OPEN at once, with Retry-After — and reports whether
  // the backend failed (pg::IsBackendFailure: client errors count as successes). The pool's
  // Acquire fails fast too while it is open (leases, transactions).
  void SetBreaker(CircuitBreaker* breaker) {
    breaker_ = breaker;
    pool_.SetBreaker(breaker);
  }
  // Told the duration of every statement or batch that ran (seconds) and its error, if any (the
  // batch's first); for metrics. Not called for calls the breaker refused.
  using Observer = std::function<void(double seconds, const Error* error)>;
  void SetObserver(Observer observer) { observer_ = std::move(observer); }

  Pool& pool() { return pool_; }
  const Pool& pool() const { return pool_; }

  // `SELECT 1` on a pooled connection within `timeout` (health probe).
  boost::asio::awaitable<bool> Ping(std::chrono::milliseconds timeout);

 private:
  using MaybePermit = std::optional<CircuitBreaker::Permit>;
  Result<MaybePermit> Admit();
  boost::asio::awaitable<Result<std::vector<std::vector<std::optional<std::string>>>>> PrepareBatch(
      Connection*& connection, PooledConnection& pooled, std::span<const SqlStatement> statements, bool in_batch,
      std::chrono::milliseconds timeout, std::string_view session_owner = {});
  // Reads caller rows as they arrive, within MAX_RESULT_BYTES (defined in pg_backend.cpp).
  class ResultReader;
  // Every statement's outcome from its final result (`results`), the scope check that followed it
  // (`checks`, null entries: none), and the rows `reader` read. Results over MAX_RESULT_BYTES are
  // 413: the answer of the whole call when `whole` (a single statement, an atomic batch), else
  // the entry's (a non-atomic batch, where the other statements' outcomes stand).
  Result<std::vector<Result<SqlOutcome>>> Outcomes(std::span<const SqlStatement> statements,
                                                   std::span<const PGresult* const> results,
                                                   std::span<const PGresult* const> checks, const ResultReader& reader,
                                                   bool whole, std::chrono::milliseconds timeout, double duration_ms);
  void Report(MaybePermit& permit, std::chrono::steady_clock::time_point started, const Error* error);
  boost::asio::awaitable<Result<SqlOutcome>> RunUnguarded(Connection& connection, const SqlStatement& statement);
  boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> RunBatchUnguarded(
      Connection* connection, std::span<const SqlStatement> statements, bool atomic, std::chrono::milliseconds timeout,
      bool in_batch = true);

  // Teaches the registry the names of types the results use that it does not know yet.
  boost::asio::awaitable<void> LearnTypes(Connection& connection, const std::vector<const PGresult*>& results,
                                          std::chrono::milliseconds timeout);

  // With EnableVectorParams: rewrites the `encoded` parameters of `sql` whose inferred type is a
  // pgvector type. Leaves them as they are when the statement cannot be described (its execution
  // then reports the problem).
  boost::asio::awaitable<void> MapVectorParams(Connection& connection, std::string_view sql,
                                               const boost::json::array& params,
                                               std::vector<std::optional<std::string>>& encoded,
                                               std::chrono::milliseconds timeout);

  // Caller SQL (SqlScope) on `connection`, or on a pooled one when null: one round trip that wraps
  // the statements as their scope requires (see pg_backend.cpp). Same results as RunBatchOn.
  boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> RunScoped(Connection* connection,
                                                                            std::span<const SqlStatement> statements,
                                                                            bool atomic,
                                                                            std::chrono::milliseconds timeout);

  Pool& pool_;
  std::size_t max_result_bytes_;
  bool vector_params_ = false;
  TypeRegistry types_;
  CircuitBreaker* breaker_ = nullptr;
  Observer observer_;
};

}  // namespace coredb::pg

namespace coredb::pg {
// Why libpq would refuse this connection string (malformed URL, unknown keyword), or nullopt.
// The message never repeats the string itself (it may hold a password).
std::optional<std::string> ConninfoProblem(const std::string& conninfo);
}  // namespace coredb::pg
