// POST /api/v1/query (API.md "Queries"): one SQL statement on postgresql or vector, or one
// Redis command.
#pragma once

#include "coredb/core/ports.hpp"
#include "coredb/http/router.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace coredb::http {

struct QueryRequest {
  Database database = Database::kPostgresql;
  std::string_view sql;
  const boost::json::array* params = nullptr;
  RowMode row_mode = RowMode::kObject;
  std::chrono::milliseconds timeout{30000};
  std::vector<std::string> command;  // redis
  std::optional<std::string_view> connection_id;
  std::optional<std::string_view> transaction_id;
};

// Validates a QueryRequest object of API.md. The result points into `body`.
Result<QueryRequest> ParseQueryRequest(const boost::json::object& body, std::chrono::milliseconds default_timeout);

struct QueryDependencies {
  SqlBackend& postgres;
  SqlBackend& vector;
  KeyValueBackend& redis;
  std::chrono::milliseconds default_timeout{30000};
};

void RegisterQueryRoutes(Router& router, QueryDependencies deps);

}  // namespace coredb::http
