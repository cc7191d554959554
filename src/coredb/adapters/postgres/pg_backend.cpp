#include "coredb/adapters/postgres/pg_backend.hpp"

#include "coredb/adapters/postgres/params.hpp"
#include "coredb/adapters/postgres/result_json.hpp"

#include <algorithm>

namespace coredb::pg {

using Clock = std::chrono::steady_clock;

boost::asio::awaitable<Result<SqlOutcome>> PgBackend::Run(const SqlStatement& statement) {
  std::vector<std::optional<std::string>> params;
  if (statement.params != nullptr) {
    auto encoded = EncodeParams(*statement.params);
    if (!encoded) co_return encoded.error();
    params = std::move(*encoded);
  }
  // `timeout` bounds the wait for a connection and, separately, the statement on the server
  // (node-postgres' connectionTimeoutMillis and statement_timeout). Passing the same value every
  // time lets the connection keep its statement_timeout instead of re-setting it per request.
  auto connection = co_await pool_.Acquire(statement.timeout);
  if (!connection) co_return connection.error();

  auto started = Clock::now();
  auto result = co_await (*connection)->Execute(Statement{statement.sql, params, statement.timeout});
  if (!result) co_return result.error();
  double duration_ms =
      static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count()) /
      1000.0;

  auto missing = types_.Missing(result->get());
  if (!missing.empty()) {
    // Learn the names of types this database defined itself, once; the lookup is a query of
    // its own on the same connection.
    std::vector<std::optional<std::string>> lookup_params{TypeRegistry::LookupParam(missing)};
    auto lookup = co_await (*connection)->Execute(Statement{TypeRegistry::LookupSql(), lookup_params, statement.timeout});
    if (lookup) types_.AddFromLookup(lookup->get());
  }

  auto body = ResultToJson(result->get(), statement.row_mode == coredb::RowMode::kArray ? pg::RowMode::kArray : pg::RowMode::kObject,
                           types_, max_result_bytes_);
  if (!body) co_return body.error();
  co_return SqlOutcome{std::move(*body), duration_ms};
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
