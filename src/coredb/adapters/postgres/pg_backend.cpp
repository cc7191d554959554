#include "coredb/adapters/postgres/pg_backend.hpp"

#include "coredb/adapters/postgres/params.hpp"
#include "coredb/adapters/postgres/result_json.hpp"
#include "coredb/adapters/postgres/sqlstate.hpp"

#include <algorithm>

namespace coredb::pg {

using Clock = std::chrono::steady_clock;

namespace {

double MillisSince(Clock::time_point start) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count()) /
         1000.0;
}

pg::RowMode ToPgRowMode(coredb::RowMode mode) {
  return mode == coredb::RowMode::kArray ? pg::RowMode::kArray : pg::RowMode::kObject;
}

// What a result costs in the response, roughly (ResultToJson's own estimate is exact enough per
// result; across a batch this keeps the sum bounded).
std::size_t EstimateBytes(const PGresult* res) {
  std::size_t total = 64;
  const int rows = PQntuples(res), cols = PQnfields(res);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) total += static_cast<std::size_t>(PQgetlength(res, r, c)) + 4;
  }
  return total;
}

}  // namespace

Result<PgBackend::MaybePermit> PgBackend::Admit() {
  if (breaker_ == nullptr) return MaybePermit{};
  auto permit = breaker_->Acquire();
  if (!permit) return permit.error();
  return MaybePermit{std::move(*permit)};
}

void PgBackend::Report(MaybePermit& permit, Clock::time_point started, const Error* error) {
  if (permit && error != nullptr &&
      (error->code == ErrorCode::kPoolTimeout || error->code == ErrorCode::kCircuitOpen)) {
    permit.reset();  // the backend was never asked: the call counts for nothing
  }
  if (permit) {
    if (error != nullptr && IsBackendFailure(*error))
      permit->Failure();
    else
      permit->Success();  // late: counted as a timeout by the breaker (its call_timeout)
  }
  if (observer_) {
    observer_(std::chrono::duration<double>(Clock::now() - started).count(), error);
  }
}

namespace {

// The error a batch reports: the whole batch's, else its first backend failure, else its first.
std::optional<Error> BatchError(const Result<std::vector<Result<SqlOutcome>>>& results) {
  std::optional<Error> first;
  if (!results) {
    first.emplace(results.error());
    return first;
  }
  for (const auto& r : *results) {
    if (r) continue;
    if (IsBackendFailure(r.error())) {
      first.emplace(r.error());
      return first;
    }
    if (!first) first.emplace(r.error());
  }
  return first;
}

template <class T>
std::optional<Error> ErrorOf(const Result<T>& result) {
  std::optional<Error> error;
  if (!result) error.emplace(result.error());
  return error;
}

}  // namespace

boost::asio::awaitable<Result<SqlOutcome>> PgBackend::Run(const SqlStatement& statement) {
  auto permit = Admit();
  if (!permit) co_return permit.error();
  const auto started = Clock::now();
  // `timeout` bounds the wait for a connection and, separately, the statement on the server
  // (node-postgres' connectionTimeoutMillis and statement_timeout). Passing the same value every
  // time lets the connection keep its statement_timeout instead of re-setting it per request.
  auto connection = co_await pool_.Acquire(statement.timeout);
  if (!connection) {
    // A full pool or an open breaker refused us: the backend was not asked (nothing to report
    // but a refused connect, which is the backend's failure).
    const auto error = ErrorOf(connection);
    Report(*permit, started, &*error);
    co_return connection.error();
  }
  auto outcome = co_await RunUnguarded(**connection, statement);
  const auto error = ErrorOf(outcome);
  Report(*permit, started, error ? &*error : nullptr);
  co_return outcome;
}

boost::asio::awaitable<Result<SqlOutcome>> PgBackend::RunOn(Connection& connection, const SqlStatement& statement) {
  auto permit = Admit();
  if (!permit) co_return permit.error();
  const auto started = Clock::now();
  auto outcome = co_await RunUnguarded(connection, statement);
  const auto error = ErrorOf(outcome);
  Report(*permit, started, error ? &*error : nullptr);
  co_return outcome;
}

boost::asio::awaitable<Result<SqlOutcome>> PgBackend::RunUnguarded(Connection& connection,
                                                                  const SqlStatement& statement) {
  std::vector<std::optional<std::string>> params;
  if (statement.params != nullptr) {
    auto encoded = EncodeParams(*statement.params);
    if (!encoded) co_return encoded.error();
    params = std::move(*encoded);
  }
  if (vector_params_ && statement.params != nullptr) {
    co_await MapVectorParams(connection, statement.sql, *statement.params, params, statement.timeout);
  }
  auto started = Clock::now();
  auto result = co_await connection.Execute(Statement{statement.sql, params, statement.timeout});
  if (!result) co_return result.error();
  double duration_ms = MillisSince(started);

  std::vector<const PGresult*> results{result->get()};
  co_await LearnTypes(connection, results, statement.timeout);
  auto body = ResultToJson(result->get(), ToPgRowMode(statement.row_mode), types_, max_result_bytes_);
  if (!body) co_return body.error();
  co_return SqlOutcome{std::move(*body), duration_ms};
}

boost::asio::awaitable<Result<SqlOutcome>> PgBackend::RunReadOnly(const SqlStatement& statement) {
  // A bad parameter is reported as such (not as entry 1 of an internal batch).
  if (statement.params != nullptr) {
    auto encoded = EncodeParams(*statement.params);
    if (!encoded) co_return encoded.error();
  }
  const SqlStatement statements[] = {
      SqlStatement{"BEGIN READ ONLY", nullptr, coredb::RowMode::kObject, statement.timeout},
      statement,
      SqlStatement{"COMMIT", nullptr, coredb::RowMode::kObject, statement.timeout},
  };
  auto results = co_await RunBatchOn(nullptr, statements, /*atomic=*/true, statement.timeout);
  if (!results) {
    Error error = results.error();
    error.failed_index.reset();
    co_return error;
  }
  for (std::size_t i = 0; i < results->size(); ++i) {
    if ((*results)[i]) continue;
    Error error = (*results)[i].error();
    error.failed_index.reset();
    if (error.pg && error.pg->sqlstate == "25006") {
      error.code = ErrorCode::kInvalidRequest;
      error.message = "cache applies to reads only: PostgreSQL refused the statement in a read-only transaction (" +
                      error.message + ")";
    }
    co_return error;
  }
  if (results->size() != 3) co_return MakeError(ErrorCode::kInternal, "unexpected read-only batch result");
  co_return std::move(*(*results)[1]);
}

boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> PgBackend::RunBatchOn(
    Connection* connection, std::span<const SqlStatement> statements, bool atomic, std::chrono::milliseconds timeout) {
  auto permit = Admit();
  if (!permit) co_return permit.error();
  const auto started = Clock::now();
  auto results = co_await RunBatchUnguarded(connection, statements, atomic, timeout);
  const auto error = BatchError(results);
  Report(*permit, started, error ? &*error : nullptr);
  co_return results;
}

boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> PgBackend::RunBatchUnguarded(
    Connection* connection, std::span<const SqlStatement> statements, bool atomic, std::chrono::milliseconds timeout) {
  // Parameters are encoded before anything is sent: a bad one fails the batch with its index.
  std::vector<std::vector<std::optional<std::string>>> params(statements.size());
  for (std::size_t i = 0; i < statements.size(); ++i) {
    if (statements[i].params == nullptr) continue;
    auto encoded = EncodeParams(*statements[i].params);
    if (!encoded) {
      Error error = encoded.error();
      error.message = "queries[" + std::to_string(i) + "]: " + error.message;
      error.failed_index = i;
      co_return error;
    }
    params[i] = std::move(*encoded);
  }
  std::vector<Statement> pg_statements;
  pg_statements.reserve(statements.size());
  for (std::size_t i = 0; i < statements.size(); ++i) {
    pg_statements.push_back(Statement{statements[i].sql, params[i], timeout});
  }

  PooledConnection pooled;
  if (connection == nullptr) {
    auto acquired = co_await pool_.Acquire(timeout);
    if (!acquired) co_return acquired.error();
    pooled = std::move(*acquired);
    connection = pooled.get();
  }
  if (vector_params_) {
    for (std::size_t i = 0; i < statements.size(); ++i) {
      if (statements[i].params == nullptr) continue;
      co_await MapVectorParams(*connection, statements[i].sql, *statements[i].params, params[i], timeout);
    }
  }
  auto started = Clock::now();
  auto results = co_await connection->ExecuteBatch(pg_statements, atomic, timeout);
  if (!results) co_return results.error();
  const double duration_ms = MillisSince(started);

  std::vector<const PGresult*> ok;
  for (const auto& r : *results) {
    const auto status = PQresultStatus(r.get());
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) ok.push_back(r.get());
  }
  co_await LearnTypes(*connection, ok, timeout);

  std::vector<Result<SqlOutcome>> out;
  out.reserve(results->size());
  std::size_t used = 0;
  for (std::size_t i = 0; i < results->size(); ++i) {
    const PGresult* r = (*results)[i].get();
    const auto status = PQresultStatus(r);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      out.emplace_back(Connection::StatementError(r, timeout));
      continue;
    }
    const std::size_t budget = used < max_result_bytes_ ? max_result_bytes_ - used : 0;
    auto body = ResultToJson(r, ToPgRowMode(statements[i].row_mode), types_, budget);
    if (!body) {
      Error error = body.error();
      if (error.code == ErrorCode::kPayloadTooLarge) {
        error.message = "the batch's results exceed MAX_RESULT_BYTES (" + std::to_string(max_result_bytes_) +
                        " bytes) at queries[" + std::to_string(i) + "]";
      }
      error.failed_index = i;
      co_return error;
    }
    used += EstimateBytes(r);
    // The round trip is shared: each entry reports the batch's server time.
    out.emplace_back(SqlOutcome{std::move(*body), duration_ms});
  }
  co_return out;
}

boost::asio::awaitable<void> PgBackend::LearnTypes(Connection& connection, const std::vector<const PGresult*>& results,
                                                   std::chrono::milliseconds timeout) {
  std::vector<Oid> missing;
  for (const PGresult* r : results) {
    for (Oid oid : types_.Missing(r)) {
      if (std::find(missing.begin(), missing.end(), oid) == missing.end()) missing.push_back(oid);
    }
  }
  if (missing.empty()) co_return;
  // Learn the names of types this database defined itself, once; the lookup is a query of its
  // own on the same connection. Inside an aborted transaction it fails: the names stay unknown.
  std::vector<std::optional<std::string>> lookup_params{TypeRegistry::LookupParam(missing)};
  auto lookup = co_await connection.Execute(Statement{TypeRegistry::LookupSql(), lookup_params, timeout});
  if (lookup) types_.AddFromLookup(lookup->get());
}

boost::asio::awaitable<void> PgBackend::MapVectorParams(Connection& connection, std::string_view sql,
                                                        const boost::json::array& params,
                                                        std::vector<std::optional<std::string>>& encoded,
                                                        std::chrono::milliseconds timeout) {
  auto is_number_vector = [](const boost::json::value& v) {
    return v.is_array() && !v.get_array().empty() &&
           std::all_of(v.get_array().begin(), v.get_array().end(),
                       [](const boost::json::value& e) { return e.is_number(); });
  };
  if (std::none_of(params.begin(), params.end(), is_number_vector)) co_return;
  auto types = co_await connection.DescribeParams(sql, timeout);
  if (!types) co_return;
  std::vector<Oid> unknown;
  for (Oid type : *types) {
    if (types_.Find(type) == nullptr) unknown.push_back(type);
  }
  if (!unknown.empty()) {
    std::vector<std::optional<std::string>> lookup_params{TypeRegistry::LookupParam(unknown)};
    auto lookup = co_await connection.Execute(Statement{TypeRegistry::LookupSql(), lookup_params, timeout});
    if (lookup) types_.AddFromLookup(lookup->get());
  }
  for (std::size_t i = 0; i < params.size() && i < types->size() && i < encoded.size(); ++i) {
    if (!is_number_vector(params[i]) || !encoded[i] || encoded[i]->size() < 2) continue;
    const TypeInfo* info = types_.Find((*types)[i]);
    if (info == nullptr || (info->name != "vector" && info->name != "halfvec")) continue;
    // A 1-D number array's literal is "{1,2.5,3}": pgvector's text form is the same in brackets.
    std::string& text = *encoded[i];
    text.front() = '[';
    text.back() = ']';
  }
}

coredb::PoolStats PgBackend::Stats() const {
  auto s = pool_.Stats();
  coredb::PoolStats out;
  out.max = s.max;
  out.size = s.size;
  out.active = s.active;
  out.idle = s.idle;
  out.waiting = s.waiting;
  out.acquired_total = s.acquired_total;
  out.released_total = s.released_total;
  out.timeouts_total = s.timeouts_total;
  return out;
}

boost::asio::awaitable<bool> PgBackend::Ping(std::chrono::milliseconds timeout) {
  auto connection = co_await pool_.Acquire(timeout);
  if (!connection) co_return false;
  auto result = co_await (*connection)->Execute(Statement{"SELECT 1", {}, timeout});
  co_return result.has_value();
}

}  // namespace coredb::pg

namespace coredb::pg {

std::optional<std::string> ConninfoProblem(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (options != nullptr) {
    PQconninfoFree(options);
    return std::nullopt;
  }
  std::string message = err != nullptr ? err : "out of memory";
  if (err != nullptr) PQfreemem(err);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

}  // namespace coredb::pg
