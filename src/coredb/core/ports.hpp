// Ports: what the core needs from the stores, implemented by the adapters (postgres/, redis/)
// and by in-memory fakes in unit tests.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/core/principal.hpp"

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

// How PostgreSQL itself confines a caller's SQL (issue 6; enforced by pg::PgBackend, never by
// looking at the SQL text). Set by the HTTP layer from the Principal (CallerScope); the service's
// own statements leave it empty.
struct SqlScope {
  // SQL a caller sent: on a shared (unleased) connection the session state it may leave
  // (set_config(..., false), advisory locks, LISTEN, PREPARE, temp tables, sequences' currval)
  // never reaches anyone else: the connection is reset before it serves another client or the
  // service itself (pg::Pool::Acquire), or — when `client` is empty — in the same round trip.
  bool caller_sql = false;
  // The client whose SQL it is (Principal::client_id).
  std::string_view client;
  // Runs in a READ ONLY transaction, verified by PostgreSQL after each statement (a `read` client).
  bool read_only = false;
  // SET LOCAL ROLE for the statement's transaction, verified after each statement (Principal::pg_role).
  std::string_view role;
  bool confined() const { return read_only || !role.empty(); }
};

// The scope of SQL sent by `caller` (its strings must outlive the statements).
inline SqlScope CallerScope(const Principal& caller) {
  return SqlScope{.caller_sql = true,
                  .client = caller.client_id,
                  .read_only = !caller.Allows(Scope::kWrite),
                  .role = caller.pg_role};
}

// Where a streamed statement's rows go (NDJSON answers) as the adapter reads them, each already
// the JSON text of the answer's type mapping. The adapter awaits Flush whenever WantsFlush says
// so before it reads on: a slow reader slows the statement, it never fills the service's memory.
class RowStream {
 public:
  // The statement's `fields` (a JSON array as in API.md), once, before its first row.
  virtual void OnFields(std::string_view fields_json) = 0;
  // One row (a JSON object or array). False: stop (MAX_STREAM_BYTES); the statement is cancelled.
  virtual bool OnRow(std::string_view row_json) = 0;
  virtual bool WantsFlush() const = 0;
  // Hands what is buffered to the reader by `deadline`. False: the reader is gone or too slow.
  virtual boost::asio::awaitable<bool> Flush(std::chrono::steady_clock::time_point deadline) = 0;

 protected:
  ~RowStream() = default;
};

struct SqlStatement {
  std::string_view sql;
  const boost::json::array* params = nullptr;  // JSON values, encoded by the adapter
  RowMode row_mode = RowMode::kObject;
  std::chrono::milliseconds timeout{30000};    // bounds the pool wait and, separately, the execution
  SqlScope scope{};                            // a batch runs with its first statement's
  // Set: the rows go there as they arrive (no MAX_RESULT_BYTES), the outcome's body has none.
  RowStream* stream = nullptr;
  // Set: the caller only sends the result on, so a backend may give it as JSON text
  // (SqlOutcome::text) instead of building `body`.
  bool text_result = false;
};

// {rows, rowCount, command, fields} of API.md, plus the server-side duration.
struct SqlOutcome {
  boost::json::object body;
  double duration_ms = 0;
  // The same object as JSON text, instead of `body`, when the statement asked for text_result
  // and the backend could (PgBackend does; a fake may still fill `body`).
  std::string text;
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
