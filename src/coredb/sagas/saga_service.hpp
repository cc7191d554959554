// The saga runner of the TransactionManager (DESIGN.md; API.md "Sagas"): runs the steps of a saga
// in order on the stores (SQL on postgresql/vector, Redis commands), and when step k fails, runs
// the compensations of steps k-1..0 in reverse, each retried with backoff up to a limit.
//
// Durable log: every saga is a row of "coredb_sagas" (migration 0002) holding its definition and
// the state of every step, rewritten before and after each step. While an instance runs (or
// recovers) a saga it holds a PostgreSQL advisory lock on it, on a connection of the saga pool
// that also writes the log; a killed instance's connections close, its locks go with them, and the
// recovery sweep (every few seconds, on every instance) finishes what it left: a saga found
// `running` or `compensating` is compensated — a step found `running` may or may not have
// happened, so it is compensated too (compensations must tolerate that) — or marked `completed`
// when every step had completed. The advisory lock means two instances never work on one saga.
//
// Not thread-safe: the event loop's thread only.
#pragma once

#include "coredb/adapters/postgres/pg_backend.hpp"
#include "coredb/core/error.hpp"
#include "coredb/core/ports.hpp"
#include "coredb/core/principal.hpp"
#include "coredb/sagas/saga_definition.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace coredb::sagas {

struct SagaOptions {
  int compensation_attempts = 5;  // per compensation, the first try included
  std::chrono::milliseconds retry_backoff{100};      // doubled after each failed attempt...
  std::chrono::milliseconds retry_backoff_max{2000};  // ...up to this
  std::chrono::milliseconds default_step_timeout{30000};
  std::chrono::milliseconds lock_wait{5000};          // for a connection of the saga pool
  std::chrono::milliseconds recovery_interval{3000};
  std::string instance_id;
};

// A saga's outcome for the HTTP layer: the saga object of API.md and the status to answer with
// (200 completed, 409 compensated, 500 failed).
struct SagaOutcome {
  boost::json::object saga;
  unsigned http_status = 200;
};

struct SagaStats {
  std::uint64_t started = 0, completed = 0, compensated = 0, failed = 0, recovered = 0;
};

class SagaService {
 public:
  // `log` runs on the saga pool (its size bounds the sagas running at once on this instance).
  SagaService(boost::asio::any_io_executor executor, SagaOptions options, pg::PgBackend& log, SqlBackend& postgres,
              SqlBackend& vector, KeyValueBackend& redis);
  ~SagaService();

  // Starts the recovery sweep (first pass soon after start).
  void Start();
  void Stop();

  // Runs a new saga to its end. With `idempotency_key`, a second call with the same key and body
  // answers the first call's outcome without running anything (409 while the first still runs;
  // 409 for the same key with another body). With `deadline` (the caller's X-Request-Timeout),
  // no step starts after it and each step's statement is cut to what remains: a step it cuts
  // fails with QUERY_TIMEOUT and the saga compensates (compensations are not bounded by it).
  boost::asio::awaitable<Result<SagaOutcome>> Run(const Principal& caller, const SagaDefinition& definition,
                                                  std::optional<std::string> idempotency_key,
                                                  std::string request_hash,
                                                  std::optional<std::chrono::steady_clock::time_point> deadline = {});
  // Undoes a completed saga (409 when it is not completed).
  boost::asio::awaitable<Result<SagaOutcome>> Compensate(const Principal& caller, std::string id);
  boost::asio::awaitable<Result<boost::json::object>> Get(const Principal& caller, std::string id);
  // Sagas in `status` (or all), newest first, at most `limit`; admins see every client's.
  boost::asio::awaitable<Result<boost::json::array>> List(const Principal& caller, std::optional<std::string> status,
                                                          std::size_t limit);

  const SagaStats& stats() const { return stats_; }

 private:
  struct Saga;
  class LogSession;

  // Run and Compensate in a coroutine of their own (the caller may go away; the saga goes on).
  boost::asio::awaitable<Result<SagaOutcome>> RunOwned(Principal caller, SagaDefinition definition,
                                                       std::optional<std::string> idempotency_key,
                                                       std::string request_hash,
                                                       std::optional<std::chrono::steady_clock::time_point> deadline);
  boost::asio::awaitable<Result<SagaOutcome>> CompensateOwned(Principal caller, std::string id);
  boost::asio::awaitable<Result<SagaOutcome>> Drive(LogSession& log, Saga& saga, bool forward);
  boost::asio::awaitable<Result<void>> CompensateFrom(LogSession& log, Saga& saga, std::size_t count);
  // `forward`: a step of the saga's run (bounded by its deadline), not a compensation.
  boost::asio::awaitable<Result<boost::json::value>> Execute(const Saga& saga, const StepRequest& request,
                                                             bool forward);
  boost::asio::awaitable<void> RecoveryLoop(std::weak_ptr<char> alive);
  boost::asio::awaitable<void> Recover(std::string id);
  // Logs the final status and answers the outcome.
  boost::asio::awaitable<Result<SagaOutcome>> Conclude(LogSession& log, Saga& saga);

  boost::asio::any_io_executor executor_;
  SagaOptions options_;
  pg::PgBackend& log_;
  SqlBackend& postgres_;
  SqlBackend& vector_;
  KeyValueBackend& redis_;
  boost::asio::steady_timer timer_;
  std::set<std::string> active_;  // sagas this instance is working on
  SagaStats stats_;
  bool stopped_ = false;
  bool warned_missing_table_ = false;
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

// SHA-256 of the request body in hex (what an Idempotency-Key retry must match).
std::string RequestHash(std::string_view body);

}  // namespace coredb::sagas
