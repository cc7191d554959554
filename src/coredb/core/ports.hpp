// Ports: what the core needs from the stores, implemented by the adapters (postgres/, redis/)
// and by in-memory fakes in unit tests.
#pragma once

#include "coredb/core/error.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace coredb {

enum class Database { kPostgresql, kRedis, kVector };
const char* DatabaseName(Database db);

enum class RowMode { kObject, kArray };

struct SqlStatement {
  std::string_view sql;
  const boost::json::array* params = nullptr;  // JSON values, encoded by the adapter
  RowMode row_mode = RowMode::kObject;
  std::chrono::milliseconds timeout{30000};    // bounds the pool wait and, separately, the execution
};

// {rows, rowCount, command, fields} of API.md, plus the server-side duration.
struct SqlOutcome {
  boost::json::object body;
  double duration_ms = 0;
};

struct PoolStats {
  std::size_t max = 0, size = 0, active = 0, idle = 0, leased = 0, waiting = 0;
  std::uint64_t acquired_total = 0, released_total = 0, expired_total = 0, timeouts_total = 0;
};

// A SQL store: PostgreSQL, or the pgvector server (same protocol).
class SqlBackend {
 public:
  virtual ~SqlBackend() = default;
  virtual boost::asio::awaitable<Result<SqlOutcome>> Run(const SqlStatement& statement) = 0;
  // A batch in one round trip on one pooled connection; one Result per statement, in order.
  // `atomic`: all in one implicit transaction (a failure undoes the earlier ones and skips the
  // rest); otherwise each in its own.
  virtual boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> RunBatch(
      std::span<const SqlStatement> statements, bool atomic, std::chrono::milliseconds timeout) = 0;
  virtual PoolStats Stats() const = 0;
};

// Redis, one command at a time; the reply already mapped to JSON (API.md "Queries", Redis).
class KeyValueBackend {
 public:
  virtual ~KeyValueBackend() = default;
  virtual boost::asio::awaitable<Result<boost::json::value>> Command(std::vector<std::string> args,
                                                                     std::chrono::milliseconds timeout) = 0;
};

}  // namespace coredb
