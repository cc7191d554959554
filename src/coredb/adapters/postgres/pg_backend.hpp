// The SqlBackend port over a PostgreSQL pool: encodes JSON params, runs one statement on a
// pooled connection, learns unknown type OIDs (extension types such as pgvector's `vector`)
// from pg_type once per database, and turns the result into the API's JSON.
#pragma once

#include "coredb/adapters/postgres/pg_pool.hpp"
#include "coredb/adapters/postgres/type_registry.hpp"
#include "coredb/core/ports.hpp"

namespace coredb::pg {

class PgBackend final : public SqlBackend {
 public:
  PgBackend(Pool& pool, std::size_t max_result_bytes) : pool_(pool), max_result_bytes_(max_result_bytes) {}

  boost::asio::awaitable<Result<SqlOutcome>> Run(const SqlStatement& statement) override;
  coredb::PoolStats Stats() const override;

  // `SELECT 1` on a pooled connection within `timeout` (health probe).
  boost::asio::awaitable<bool> Ping(std::chrono::milliseconds timeout);

 private:
  Pool& pool_;
  std::size_t max_result_bytes_;
  TypeRegistry types_;
};

}  // namespace coredb::pg

namespace coredb::pg {
// Why libpq would refuse this connection string (malformed URL, unknown keyword), or nullopt.
// The message never repeats the string itself (it may hold a password).
std::optional<std::string> ConninfoProblem(const std::string& conninfo);
}  // namespace coredb::pg
