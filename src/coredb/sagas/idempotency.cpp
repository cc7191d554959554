#include "coredb/sagas/idempotency.hpp"

#include <boost/json/serialize.hpp>

namespace coredb::sagas {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// RunOn with the statement owned by this frame (RunOn keeps a reference to it).
asio::awaitable<Result<SqlOutcome>> RunStatement(pg::PgBackend& backend, pg::Connection& connection,
                                                 SqlStatement statement) {
  auto outcome = co_await backend.RunOn(connection, statement);
  co_return outcome;
}

}  // namespace

asio::awaitable<Result<IdempotentOutcome>> IdempotencyStore::Run(const Principal& caller, std::string key,
                                                                 std::string request_hash,
                                                                 const SqlStatement& statement) {
  auto acquired = co_await postgres_.pool().Acquire(statement.timeout, caller.client_id);
  if (!acquired) co_return acquired.error();
  pg::PooledConnection connection = std::move(*acquired);
  // The caller's statement may leave session state (set_config(..., false), ...): the pool resets
  // the connection before anyone else gets it.
  connection->SetSessionOwner(caller.client_id);
  auto run = [&](std::string_view sql, const json::array* params) {
    return RunStatement(postgres_, *connection, SqlStatement{sql, params, RowMode::kObject, statement.timeout});
  };
  auto begun = co_await run("BEGIN", nullptr);
  if (!begun) co_return begun.error();
  const json::array claim_params{caller.client_id, key, request_hash};
  auto claimed = co_await run(
      "INSERT INTO coredb_idempotency (\"clientId\", \"key\", \"requestHash\") VALUES ($1, $2, $3) "
      "ON CONFLICT DO NOTHING RETURNING 1 AS claimed",
      &claim_params);
  if (!claimed) {
    if (claimed.error().pg && claimed.error().pg->sqlstate == "42P01") {
      co_return Error(ErrorCode::kDatabaseUnavailable, "the idempotency table is missing: run `coredb migrate`");
    }
    co_return claimed.error();  // the connection is reset (ROLLBACK) on its way back to the pool
  }
  if (claimed->body.at("rows").as_array().empty()) {
    // Used before (and committed): answer the first reply.
    auto ended = co_await run("ROLLBACK", nullptr);
    if (!ended) co_return ended.error();
    const json::array read_params{caller.client_id, key};
    auto stored = co_await run(
        "SELECT \"requestHash\", response FROM coredb_idempotency WHERE \"clientId\" = $1 AND \"key\" = $2",
        &read_params);
    if (!stored) co_return stored.error();
    const auto& rows = stored->body.at("rows").as_array();
    if (rows.empty()) co_return Error(ErrorCode::kConflict, "this Idempotency-Key is being used right now; retry");
    if (rows[0].at("requestHash") != json::value(request_hash)) {
      co_return Error(ErrorCode::kConflict, "this Idempotency-Key was used with another request body");
    }
    if (!rows[0].at("response").is_object()) {
      co_return Error(ErrorCode::kConflict, "the first request with this Idempotency-Key has no recorded reply");
    }
    co_return IdempotentOutcome{rows[0].at("response").as_object(), true};
  }
  // The caller's statement runs as its PostgreSQL role (checked after it by RunOn); the claim and
  // the saved reply before and after it run as the service.
  const json::array role_params{std::string(statement.scope.role)};
  if (!statement.scope.role.empty()) {
    auto as_role = co_await run("SELECT pg_catalog.set_config('role', $1, true)", &role_params);
    if (!as_role) co_return as_role.error();
  }
  auto outcome = co_await postgres_.RunOn(*connection, statement);
  if (!outcome) co_return outcome.error();  // rolled back with the claim: a retry runs again
  if (!statement.scope.role.empty()) {
    auto as_service = co_await run("SELECT pg_catalog.set_config('role', 'none', true)", nullptr);
    if (!as_service) co_return as_service.error();
  }
  outcome->body["duration"] = outcome->duration_ms;
  const json::array save_params{caller.client_id, key, json::serialize(outcome->body)};
  auto saved = co_await run(
      "UPDATE coredb_idempotency SET response = $3::jsonb WHERE \"clientId\" = $1 AND \"key\" = $2", &save_params);
  if (!saved) co_return saved.error();
  auto committed = co_await run("COMMIT", nullptr);
  if (!committed) co_return committed.error();
  co_return IdempotentOutcome{std::move(outcome->body), false};
}

}  // namespace coredb::sagas
