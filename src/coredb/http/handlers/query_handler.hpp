// POST /api/v1/query and /api/v1/query/batch (API.md "Queries"): one SQL statement on postgresql
// or vector, or one Redis command, on the shared pools or on a lease / in a transaction; batches
// in one round trip.
#pragma once

#include "coredb/cache/cache_manager.hpp"
#include "coredb/core/ports.hpp"
#include "coredb/http/router.hpp"
#include "coredb/sagas/idempotency.hpp"
#include "coredb/sessions/session_manager.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace coredb::http {

// `cache` of a query: a read served from / stored in the shared cache.
struct QueryCache {
  std::chrono::seconds ttl{0};
  std::optional<std::string_view> key;  // the default is DefaultCacheKey()
  std::vector<std::string> tags;
};

struct QueryRequest {
  Database database = Database::kPostgresql;
  bool database_given = false;  // the caller named it (checked against a lease's)
  std::string_view sql;
  const boost::json::array* params = nullptr;
  RowMode row_mode = RowMode::kObject;
  std::chrono::milliseconds timeout{30000};
  std::vector<std::string> command;  // redis
  std::optional<std::string_view> connection_id;
  std::optional<std::string_view> transaction_id;
  std::optional<QueryCache> cache;
  std::optional<sessions::PendingInvalidation> invalidate;  // `keys` are glob patterns
};

// The cache key of a query without an explicit `cache.key`: "q:" + the lowercase hex SHA-256 of
// the JSON array [database, sql, params (as sent, [] when absent), rowMode], e.g.
// ["postgresql","SELECT $1",[1],"object"]; a client with a PostgreSQL role adds the role as a
// fifth element (two roles never share a cached result).
std::string DefaultCacheKey(const QueryRequest& q, std::string_view pg_role = {});

// Validates a QueryRequest object of API.md. The result points into `body`.
Result<QueryRequest> ParseQueryRequest(const boost::json::object& body, std::chrono::milliseconds default_timeout);

struct BatchRequest {
  std::vector<SqlStatement> statements;  // point into the body
  bool atomic = true;
  Database database = Database::kPostgresql;
  bool database_given = false;
  std::chrono::milliseconds timeout{30000};
  std::optional<std::string_view> connection_id;
  std::optional<std::string_view> transaction_id;
};

inline constexpr std::size_t kMaxBatchStatements = 1000;

// Validates {queries: [{sql, params?, rowMode?}] (1..1000), atomic?, connectionId?,
// transactionId?, database?, timeout?}. The result points into `body`.
Result<BatchRequest> ParseBatchRequest(const boost::json::object& body, std::chrono::milliseconds default_timeout);

struct QueryDependencies {
  pg::PgBackend& postgres;
  pg::PgBackend& vector;
  KeyValueBackend& redis;
  sessions::SessionManager& sessions;
  cache::CacheManager& cache;
  std::chrono::milliseconds default_timeout{30000};
  sagas::IdempotencyStore* idempotency = nullptr;  // Idempotency-Key on single SQL writes
  std::uint64_t max_stream_bytes = 0;              // MAX_STREAM_BYTES (0: none)
};

void RegisterQueryRoutes(Router& router, QueryDependencies deps);

}  // namespace coredb::http
