#include "coredb/sagas/saga_service.hpp"

#include "coredb/core/rfc3339.hpp"
#include "coredb/core/token_auth.hpp"
#include "coredb/observability/logging.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <stdexcept>

namespace coredb::sagas {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kLogTimeout{10000};

std::string NewSagaId() {
  unsigned char bytes[16];
  // An id is the saga's handle for its caller: never a guessable one (RunDetached turns this into 500).
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("the system's random number generator failed (RAND_bytes)");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "saga_";
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

json::object StepErrorJson(const Error& e) {
  json::object o{{"code", ErrorCodeName(e.code)}, {"message", e.code == ErrorCode::kInternal ? "internal error" : e.message}};
  if (e.pg && !e.pg->sqlstate.empty()) o["sqlstate"] = e.pg->sqlstate;
  return o;
}

bool IsFinal(std::string_view status) { return status == "completed" || status == "compensated" || status == "failed"; }

}  // namespace

std::string RequestHash(std::string_view body) {
  const auto digest = Sha256(body);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

struct SagaService::Saga {
  std::string id;
  std::string client_id;
  std::string status = "running";
  SagaDefinition definition;
  json::array steps;  // the step objects of API.md's saga object, as logged
  std::optional<std::string> idempotency_key;
  std::string request_hash;
  unsigned http_status = 0;
  // The caller's X-Request-Timeout, for the steps run forward (never for compensations, and
  // never after a restart: recovery only compensates).
  std::optional<std::chrono::steady_clock::time_point> deadline;

  json::object Json() const { return json::object{{"sagaId", id}, {"status", status}, {"steps", steps}}; }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& s : definition.steps) names.push_back(s.name);
    return names;
  }
  std::vector<json::value> Results() const {
    std::vector<json::value> results;
    for (const auto& s : steps) {
      const auto* r = s.as_object().if_contains("result");
      results.push_back(r != nullptr ? *r : json::value());
    }
    return results;
  }
  json::object& Step(std::size_t i) { return steps[i].as_object(); }
};

// A connection of the saga pool, holding the advisory lock of the sagas it works on and writing
// their log. The pool resets the session (releasing the locks) when it is given back.
class SagaService::LogSession {
 public:
  LogSession(pg::PgBackend& log, pg::PooledConnection connection) : log_(log), connection_(std::move(connection)) {}
  ~LogSession() {
    if (connection_) connection_->MarkNeedsReset();
  }

  asio::awaitable<Result<json::array>> Query(std::string_view sql, json::array params) {
    SqlStatement statement{sql, &params, RowMode::kObject, kLogTimeout};
    auto outcome = co_await log_.RunOn(*connection_, statement);
    if (!outcome) co_return outcome.error();
    co_return outcome->body.at("rows").as_array();
  }

  asio::awaitable<Result<bool>> TryLock(const std::string& id) {
    json::array params{id};
    auto rows = co_await Query("SELECT pg_try_advisory_lock(7270, hashtext($1)) AS locked", params);
    if (!rows) co_return rows.error();
    co_return rows->at(0).at("locked").as_bool();
  }

  asio::awaitable<Result<void>> Update(const Saga& saga) {
    json::array params{saga.id, saga.status, json::serialize(saga.steps), saga.http_status};
    auto rows = co_await Query(
        "UPDATE coredb_sagas SET status = $2, steps = $3::jsonb, \"httpStatus\" = NULLIF($4::int, 0), "
        "\"updatedAt\" = now() WHERE id = $1",
        params);
    if (!rows) co_return rows.error();
    co_return Result<void>{};
  }

 private:
  pg::PgBackend& log_;
  pg::PooledConnection connection_;
};

SagaService::SagaService(asio::any_io_executor executor, SagaOptions options, pg::PgBackend& log,
                         SqlBackend& postgres, SqlBackend& vector, KeyValueBackend& redis)
    : executor_(executor),
      options_(std::move(options)),
      log_(log),
      postgres_(postgres),
      vector_(vector),
      redis_(redis),
      timer_(executor) {}

SagaService::~SagaService() { alive_.reset(); }

void SagaService::Start() {
  asio::co_spawn(executor_, RecoveryLoop(alive_), [](std::exception_ptr e) {
    if (e) spdlog::error("saga recovery sweep stopped on an unexpected exception");
  });
}

void SagaService::Stop() {
  stopped_ = true;
  timer_.cancel();
}

// ---------------------------------------------------------------------------------------------
// running

asio::awaitable<Result<boost::json::value>> SagaService::Execute(const Saga& saga, const StepRequest& request,
                                                                  bool forward) {
  auto resolved = ResolvePlaceholders(request.json, saga.Names(), saga.Results());
  if (!resolved) co_return resolved.error();
  const json::object& r = *resolved;
  milliseconds timeout = options_.default_step_timeout;
  if (auto* t = r.if_contains("timeout")) timeout = milliseconds(t->as_int64());
  if (forward && saga.deadline) {
    // A step runs only within the caller's deadline, its statement cut to what remains of it; a
    // step it cuts fails like any other, and the saga compensates what ran before.
    const auto left = std::chrono::ceil<milliseconds>(*saga.deadline - std::chrono::steady_clock::now());
    if (left <= milliseconds(0)) {
      co_return Error(ErrorCode::kQueryTimeout, "the request's X-Request-Timeout passed before this step started");
    }
    timeout = std::min(timeout, left);
  }
  if (request.database == Database::kRedis) {
    std::vector<std::string> command;
    for (const auto& arg : r.at("command").as_array()) command.emplace_back(arg.as_string());
    auto reply = co_await redis_.Command(std::move(command), timeout);
    if (!reply) co_return reply.error();
    co_return json::value(json::object{{"result", std::move(*reply)}});
  }
  SqlStatement statement;
  statement.sql = r.at("sql").as_string();
  if (auto* p = r.if_contains("params")) statement.params = &p->as_array();
  if (auto* m = r.if_contains("rowMode"); m != nullptr && m->as_string() == "array") statement.row_mode = RowMode::kArray;
  statement.timeout = timeout;
  statement.scope.caller_sql = true;  // its session state is discarded (PgBackend::RunScoped)
  SqlBackend& backend = request.database == Database::kVector ? vector_ : postgres_;
  auto outcome = co_await backend.Run(statement);
  if (!outcome) co_return outcome.error();
  json::object result{{"rows", outcome->body.at("rows")},
                      {"rowCount", outcome->body.at("rowCount")},
                      {"command", outcome->body.at("command")}};
  co_return json::value(std::move(result));
}

namespace {

// A saga must not stop halfway because the HTTP caller went away: it runs in a coroutine of its
// own, and the caller's request only waits for its outcome.
struct Detached {
  explicit Detached(asio::any_io_executor executor)
      : done(executor, std::chrono::steady_clock::time_point::max()) {}
  asio::steady_timer done;
  std::optional<Result<SagaOutcome>> outcome;
};

asio::awaitable<void> RunDetached(std::shared_ptr<Detached> state,
                                  std::function<asio::awaitable<Result<SagaOutcome>>()> work) {
  // Whatever happens (an exception is a bug, but must not leave the caller waiting forever), the
  // waiting request is woken with an outcome.
  struct Wake {
    std::shared_ptr<Detached> state;
    ~Wake() {
      if (!state->outcome) state->outcome.emplace(Error(ErrorCode::kInternal, "the saga stopped unexpectedly"));
      state->done.cancel();
    }
  } wake{state};
  try {
    auto outcome = co_await work();
    state->outcome.emplace(std::move(outcome));
  } catch (const std::exception& e) {
    spdlog::error("saga: unexpected exception: {}", e.what());
  }
}

asio::awaitable<Result<SagaOutcome>> AwaitDetached(asio::any_io_executor executor,
                                                   std::function<asio::awaitable<Result<SagaOutcome>>()> work) {
  auto state = std::make_shared<Detached>(executor);
  asio::co_spawn(executor, RunDetached(state, std::move(work)), asio::detached);
  // co_spawn may run the work inline up to its first suspension: when it finished without one
  // (an early error), the timer's cancel() came before any wait and waiting now would never end.
  if (!state->outcome) {
    auto [ec] = co_await state->done.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
  }
  if (!state->outcome) co_return Error(ErrorCode::kDatabaseUnavailable, "the caller went away; the saga goes on");
  co_return std::move(*state->outcome);
}

}  // namespace

asio::awaitable<Result<SagaOutcome>> SagaService::Run(const Principal& caller, const SagaDefinition& definition,
                                                      std::optional<std::string> idempotency_key,
                                                      std::string request_hash,
                                                      std::optional<std::chrono::steady_clock::time_point> deadline) {
  // (A named std::function: GCC 12 destroys a lambda temporary inside a co_await expression twice.)
  std::function<asio::awaitable<Result<SagaOutcome>>()> work =
      [this, caller, definition, key = std::move(idempotency_key), hash = std::move(request_hash), deadline]() {
        return RunOwned(caller, definition, key, hash, deadline);
      };
  auto outcome = co_await AwaitDetached(executor_, std::move(work));
  co_return outcome;
}

asio::awaitable<Result<SagaOutcome>> SagaService::Compensate(const Principal& caller, std::string id) {
  std::function<asio::awaitable<Result<SagaOutcome>>()> work = [this, caller, id]() {
    return CompensateOwned(caller, id);
  };
  auto outcome = co_await AwaitDetached(executor_, std::move(work));
  co_return outcome;
}

asio::awaitable<Result<SagaOutcome>> SagaService::RunOwned(Principal caller, SagaDefinition definition,
                                                           std::optional<std::string> idempotency_key,
                                                           std::string request_hash,
                                                           std::optional<std::chrono::steady_clock::time_point> deadline) {
  const std::weak_ptr<char> alive = alive_;
  auto connection = co_await log_.pool().Acquire(options_.lock_wait);
  if (!connection) co_return connection.error();
  if (alive.expired()) co_return Error(ErrorCode::kDatabaseUnavailable, "the service is shutting down");
  LogSession log(log_, std::move(*connection));

  Saga saga;
  saga.id = NewSagaId();
  saga.client_id = caller.client_id;
  saga.definition = definition;
  saga.idempotency_key = std::move(idempotency_key);
  saga.request_hash = std::move(request_hash);
  saga.deadline = deadline;
  for (const auto& step : definition.steps) saga.steps.push_back(json::object{{"name", step.name}, {"status", "pending"}});

  auto locked = co_await log.TryLock(saga.id);
  if (!locked) co_return locked.error();
  json::array insert_params{saga.id,
                            saga.client_id,
                            json::serialize(DefinitionJson(definition)),
                            json::serialize(saga.steps),
                            saga.idempotency_key ? json::value(*saga.idempotency_key) : json::value(),
                            saga.request_hash};
  auto inserted = co_await log.Query(
      "INSERT INTO coredb_sagas (id, \"clientId\", status, definition, steps, \"idempotencyKey\", \"requestHash\") "
      "VALUES ($1, $2, 'running', $3::jsonb, $4::jsonb, $5, $6) "
      "ON CONFLICT (\"clientId\", \"idempotencyKey\") WHERE \"idempotencyKey\" IS NOT NULL DO NOTHING RETURNING id",
      insert_params);
  if (!inserted) {
    if (inserted.error().pg && inserted.error().pg->sqlstate == "42P01") {
      co_return Error(ErrorCode::kDatabaseUnavailable, "the saga log table is missing: run `coredb migrate`");
    }
    co_return inserted.error();
  }
  if (inserted->empty()) {
    // The Idempotency-Key was used before: answer the first outcome.
    json::array params{saga.client_id, *saga.idempotency_key};
    auto rows = co_await log.Query(
        "SELECT id, status, steps, \"requestHash\", \"httpStatus\" FROM coredb_sagas "
        "WHERE \"clientId\" = $1 AND \"idempotencyKey\" = $2",
        params);
    if (!rows) co_return rows.error();
    if (rows->empty()) co_return Error(ErrorCode::kConflict, "a saga with this Idempotency-Key is being created");
    const json::object& row = rows->at(0).as_object();
    if (row.at("requestHash") != json::value(saga.request_hash)) {
      co_return Error(ErrorCode::kConflict, "this Idempotency-Key was used with another request body");
    }
    const std::string status(row.at("status").as_string());
    if (!IsFinal(status) || row.at("httpStatus").is_null()) {
      co_return Error(ErrorCode::kConflict, "the saga of this Idempotency-Key (" +
                                                std::string(row.at("id").as_string()) + ") is still " + status);
    }
    SagaOutcome replay;
    replay.saga = json::object{{"sagaId", row.at("id")}, {"status", status}, {"steps", row.at("steps")}};
    replay.http_status = static_cast<unsigned>(row.at("httpStatus").to_number<int>());
    co_return replay;
  }
  ++stats_.started;
  active_.insert(saga.id);
  auto outcome = co_await Drive(log, saga, /*forward=*/true);
  if (!alive.expired()) active_.erase(saga.id);
  co_return outcome;
}

// Runs the saga forward (new sagas) or compensates what a crashed run left (recovery): returns its
// final outcome once logged. A log write that fails stops here with that error: the row stays
// running/compensating and the recovery sweep finishes the saga later.
asio::awaitable<Result<SagaOutcome>> SagaService::Drive(LogSession& log, Saga& saga, bool forward) {
  if (forward) {
    for (std::size_t k = 0; k < saga.steps.size(); ++k) {
      json::object& step = saga.Step(k);
      step["status"] = "running";
      step["startedAt"] = NowRfc3339();
      auto before = co_await log.Update(saga);
      if (!before) co_return before.error();
      auto result = co_await Execute(saga, saga.definition.steps[k].action, /*forward=*/true);
      json::object& done = saga.Step(k);
      done["finishedAt"] = NowRfc3339();
      if (result) {
        done["status"] = "completed";
        done["result"] = std::move(*result);
      } else {
        done["status"] = "failed";
        done["error"] = StepErrorJson(result.error());
        observability::LogEvent(spdlog::level::warn, "saga step failed",
                                {{"sagaId", saga.id}, {"step", saga.definition.steps[k].name},
                                 {"error", result.error().message}});
      }
      auto after = co_await log.Update(saga);
      if (!after) co_return after.error();
      if (!result) {
        auto compensated = co_await CompensateFrom(log, saga, k);
        if (!compensated) co_return compensated.error();
        auto concluded = co_await Conclude(log, saga);
        co_return concluded;
      }
    }
    saga.status = "completed";
    auto concluded = co_await Conclude(log, saga);
    co_return concluded;
  } else {
    // Recovery: a step found running may have happened; everything up to it is undone.
    std::size_t count = 0;
    bool all_completed = true;
    for (std::size_t i = 0; i < saga.steps.size(); ++i) {
      const std::string_view st = saga.Step(i).at("status").as_string();
      if (st != "completed") all_completed = false;
      if (st == "completed" || st == "running" || st == "compensating" || st == "compensated" ||
          st == "compensation_failed") {
        count = i + 1;
      }
    }
    if (saga.status == "running" && all_completed) {
      saga.status = "completed";
    } else {
      auto compensated = co_await CompensateFrom(log, saga, count);
      if (!compensated) co_return compensated.error();
    }
  }
  auto concluded = co_await Conclude(log, saga);
  co_return concluded;
}

// Compensates steps count-1..0 (those that completed or may have), each retried with backoff.
asio::awaitable<Result<void>> SagaService::CompensateFrom(LogSession& log, Saga& saga, std::size_t count) {
  saga.status = "compensating";
  auto marked = co_await log.Update(saga);
  if (!marked) co_return marked.error();
  bool any_failed = false;
  for (std::size_t j = count; j-- > 0;) {
    json::object& step = saga.Step(j);
    const std::string status(step.at("status").as_string());
    if (status == "compensated" || status == "pending" || status == "failed") continue;
    if (status == "compensation_failed") {
      any_failed = true;
      continue;
    }
    const auto& compensation = saga.definition.steps[j].compensation;
    if (!compensation) {
      step["status"] = "compensated";  // `compensation: null`: nothing to undo
      continue;
    }
    step["status"] = "compensating";
    auto logged = co_await log.Update(saga);
    if (!logged) co_return logged.error();
    milliseconds backoff = options_.retry_backoff;
    int attempts = 0;
    Result<json::value> result = Error();
    for (;;) {
      ++attempts;
      result = co_await Execute(saga, *compensation, /*forward=*/false);
      if (result || attempts >= options_.compensation_attempts) break;
      asio::steady_timer wait(executor_, backoff);
      auto [ec] = co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
      (void)ec;
      backoff = std::min(backoff * 2, options_.retry_backoff_max);
    }
    json::object& done = saga.Step(j);
    json::object comp{{"attempts", attempts}, {"finishedAt", NowRfc3339()}};
    if (result) {
      done["status"] = "compensated";
    } else {
      any_failed = true;
      done["status"] = "compensation_failed";
      comp["error"] = StepErrorJson(result.error());
      observability::LogEvent(spdlog::level::err, "saga compensation failed: needs an operator",
                              {{"sagaId", saga.id}, {"step", saga.definition.steps[j].name},
                               {"attempts", attempts}, {"error", result.error().message}});
    }
    done["compensation"] = std::move(comp);
    auto after = co_await log.Update(saga);
    if (!after) co_return after.error();
  }
  saga.status = any_failed ? "failed" : "compensated";
  co_return Result<void>{};
}

asio::awaitable<Result<SagaOutcome>> SagaService::Conclude(LogSession& log, Saga& saga) {
  saga.http_status = saga.status == "completed" ? 200 : saga.status == "compensated" ? 409 : 500;
  auto logged = co_await log.Update(saga);
  if (!logged) co_return logged.error();
  if (saga.status == "completed") ++stats_.completed;
  if (saga.status == "compensated") ++stats_.compensated;
  if (saga.status == "failed") ++stats_.failed;
  co_return SagaOutcome{saga.Json(), saga.http_status};
}


// ---------------------------------------------------------------------------------------------
// reading the log, manual compensation, recovery

namespace {

// A row of coredb_sagas (id, "clientId", status, definition, steps, ...) → the saga object.
json::object SagaJson(const json::object& row) {
  return json::object{{"sagaId", row.at("id")}, {"status", row.at("status")}, {"steps", row.at("steps")}};
}

constexpr const char* kSelectSaga =
    "SELECT id, \"clientId\", status, definition, steps, \"idempotencyKey\", \"requestHash\", "
    "\"createdAt\", \"updatedAt\" FROM coredb_sagas";

}  // namespace

asio::awaitable<Result<json::object>> SagaService::Get(const Principal& caller, std::string id) {
  json::array params{id};
  const std::string sql = std::string(kSelectSaga) + " WHERE id = $1";
  SqlStatement statement{sql, &params, RowMode::kObject, kLogTimeout};
  auto outcome = co_await log_.Run(statement);
  if (!outcome) co_return outcome.error();
  const auto& rows = outcome->body.at("rows").as_array();
  if (rows.empty() || (rows[0].at("clientId") != json::value(caller.client_id) && !caller.Has(Scope::kAdmin))) {
    co_return Error(ErrorCode::kNotFound, "unknown saga '" + id.substr(0, 80) + "'");
  }
  json::object saga = SagaJson(rows[0].as_object());
  saga["createdAt"] = rows[0].at("createdAt");
  saga["updatedAt"] = rows[0].at("updatedAt");
  co_return saga;
}

asio::awaitable<Result<json::array>> SagaService::List(const Principal& caller, std::optional<std::string> status,
                                                       std::size_t limit) {
  json::array params{status ? json::value(*status) : json::value(), caller.client_id, caller.Has(Scope::kAdmin),
                     static_cast<std::int64_t>(limit)};
  const std::string sql = std::string(kSelectSaga) +
                          " WHERE ($1::text IS NULL OR status = $1) AND ($3::bool OR \"clientId\" = $2) "
                          "ORDER BY \"updatedAt\" DESC LIMIT $4::int";
  SqlStatement statement{sql, &params, RowMode::kObject, kLogTimeout};
  auto outcome = co_await log_.Run(statement);
  if (!outcome) co_return outcome.error();
  json::array out;
  for (const auto& row : outcome->body.at("rows").as_array()) {
    json::object saga = SagaJson(row.as_object());
    saga["createdAt"] = row.at("createdAt");
    saga["updatedAt"] = row.at("updatedAt");
    out.push_back(std::move(saga));
  }
  co_return out;
}

asio::awaitable<Result<SagaOutcome>> SagaService::CompensateOwned(Principal caller, std::string id) {
  const std::weak_ptr<char> alive = alive_;
  auto connection = co_await log_.pool().Acquire(options_.lock_wait);
  if (!connection) co_return connection.error();
  if (alive.expired()) co_return Error(ErrorCode::kDatabaseUnavailable, "the service is shutting down");
  LogSession log(log_, std::move(*connection));
  json::array params{id};
  const std::string sql = std::string(kSelectSaga) + " WHERE id = $1";
  auto rows = co_await log.Query(sql, params);
  if (!rows) co_return rows.error();
  if (rows->empty() || (rows->at(0).at("clientId") != json::value(caller.client_id) && !caller.Has(Scope::kAdmin))) {
    co_return Error(ErrorCode::kNotFound, "unknown saga '" + id.substr(0, 80) + "'");
  }
  auto locked = co_await log.TryLock(id);
  if (!locked) co_return locked.error();
  if (!*locked || active_.count(id) != 0) {
    co_return Error(ErrorCode::kConflict, "saga '" + id + "' is being worked on right now");
  }
  // Read again under the lock: the state may have moved since.
  auto fresh = co_await log.Query(sql, params);
  if (!fresh) co_return fresh.error();
  const json::object& row = fresh->at(0).as_object();
  if (row.at("status") != json::value("completed")) {
    co_return Error(ErrorCode::kConflict, "saga '" + id + "' is " + std::string(row.at("status").as_string()) +
                                              ": only a completed saga can be compensated");
  }
  auto definition = DefinitionFromJson(row.at("definition").as_array());
  if (!definition) co_return definition.error();
  Saga saga;
  saga.id = id;
  saga.client_id = std::string(row.at("clientId").as_string());
  saga.definition = std::move(*definition);
  saga.steps = row.at("steps").as_array();
  active_.insert(id);
  auto compensated = co_await CompensateFrom(log, saga, saga.steps.size());
  Result<SagaOutcome> outcome = Error();
  if (compensated) {
    // Undone on request: a success here is 200 (the 409 of a saga that compensated itself
    // reports a failure the caller did not ask for).
    auto concluded = co_await Conclude(log, saga);
    outcome = std::move(concluded);
    if (outcome && saga.status == "compensated") outcome->http_status = 200;
  } else {
    outcome = compensated.error();
  }
  if (!alive.expired()) active_.erase(id);
  co_return outcome;
}

asio::awaitable<void> SagaService::RecoveryLoop(std::weak_ptr<char> alive) {
  milliseconds wait(500);  // first pass soon after start: a restarted instance picks up its sagas
  for (;;) {
    if (alive.expired() || stopped_) co_return;
    timer_.expires_after(wait);
    auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (alive.expired() || stopped_) co_return;
    (void)ec;
    wait = options_.recovery_interval;
    json::array params;
    SqlStatement statement{
        "SELECT id FROM coredb_sagas WHERE status IN ('running', 'compensating') ORDER BY \"updatedAt\" LIMIT 50",
        &params, RowMode::kObject, kLogTimeout};
    auto outcome = co_await log_.Run(statement);
    if (alive.expired() || stopped_) co_return;
    if (!outcome) {
      if (outcome.error().pg && outcome.error().pg->sqlstate == "42P01") {
        if (!warned_missing_table_) spdlog::warn("sagas: the saga log table is missing (run `coredb migrate`)");
        warned_missing_table_ = true;
      }
      continue;
    }
    for (const auto& row : outcome->body.at("rows").as_array()) {
      std::string id(row.at("id").as_string());
      if (active_.count(id) != 0) continue;
      asio::co_spawn(executor_, Recover(std::move(id)), [](std::exception_ptr e) {
        if (e) spdlog::error("saga recovery stopped on an unexpected exception");
      });
    }
    // Idempotency-Key replies of /api/v1/query are kept 24 h (and a little more).
    SqlStatement expire{"DELETE FROM coredb_idempotency WHERE \"createdAt\" < now() - interval '25 hours'", &params,
                        RowMode::kObject, kLogTimeout};
    auto expired = co_await log_.Run(expire);
    (void)expired;
    if (alive.expired() || stopped_) co_return;
  }
}

asio::awaitable<void> SagaService::Recover(std::string id) {
  const std::weak_ptr<char> alive = alive_;
  active_.insert(id);
  struct Done {
    SagaService* self;
    std::weak_ptr<char> alive;
    std::string id;
    ~Done() {
      if (!alive.expired()) self->active_.erase(id);
    }
  } done{this, alive, id};
  auto connection = co_await log_.pool().Acquire(options_.lock_wait);
  if (!connection || alive.expired()) co_return;
  LogSession log(log_, std::move(*connection));
  auto locked = co_await log.TryLock(id);
  if (!locked || !*locked) co_return;  // another instance is on it (or the log is unreachable)
  json::array params{id};
  const std::string sql = std::string(kSelectSaga) + " WHERE id = $1";
  auto rows = co_await log.Query(sql, params);
  if (!rows || rows->empty()) co_return;
  const json::object& row = rows->at(0).as_object();
  Saga saga;
  saga.id = id;
  saga.client_id = std::string(row.at("clientId").as_string());
  saga.status = std::string(row.at("status").as_string());
  if (IsFinal(saga.status)) co_return;  // finished between the sweep's read and the lock
  auto definition = DefinitionFromJson(row.at("definition").as_array());
  if (!definition) co_return;
  saga.definition = std::move(*definition);
  saga.steps = row.at("steps").as_array();
  observability::LogEvent(spdlog::level::warn, "saga recovery", {{"sagaId", id}, {"status", saga.status}});
  auto outcome = co_await Drive(log, saga, /*forward=*/false);
  if (alive.expired()) co_return;
  if (outcome) {
    ++stats_.recovered;
    observability::LogEvent(spdlog::level::warn, "saga recovered", {{"sagaId", id}, {"status", saga.status}});
  }
}

}  // namespace coredb::sagas
