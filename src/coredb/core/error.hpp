// Expected failures of the service, as values. Every layer returns these; the HTTP layer maps
// them to status codes in exactly one table (http/error_response.cpp).
#pragma once

#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <utility>

namespace coredb {

enum class ErrorCode {
  kInvalidRequest,        // 400 malformed input
  kQueryError,            // 400 the database rejected the statement
  kUnauthenticated,       // 401
  kForbidden,             // 403
  kNotFound,              // 404
  kMethodNotAllowed,      // 405
  kConstraintViolation,   // 409 SQLSTATE class 23
  kSerializationFailure,  // 409 40001 / 40P01 (retryable)
  kConflict,              // 409
  kLeaseExpired,          // 410
  kTransactionExpired,    // 410
  kPayloadTooLarge,       // 413
  kUnsupportedMediaType,  // 415
  kRateLimited,           // 429
  kInternal,              // 500 a bug; never carries details to the caller
  kDatabaseUnavailable,   // 503 backend down
  kPoolTimeout,           // 503 no connection within the caller's timeout
  kCircuitOpen,           // 503 breaker open
  kQueryTimeout,          // 504 statement cancelled on the server
};

// Fields PostgreSQL gives with an error report (PQresultErrorField).
struct PgErrorFields {
  std::string sqlstate;
  std::string detail;
  std::string hint;
  std::optional<int> position;
  std::string constraint;
  std::string table;
  std::string column;
  // PostgreSQL ended the session with this report (severity FATAL or PANIC), or the connection
  // was lost right after it; false for an ERROR, after which the session goes on.
  bool session_ended = false;
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::optional<PgErrorFields> pg;        // present when PostgreSQL produced the error
  std::optional<int> retry_after_seconds; // Retry-After for 429/503
  std::optional<std::size_t> failed_index;

  Error() = default;
  Error(ErrorCode c, std::string msg) : code(c), message(std::move(msg)) {}
};

template <class T>
using Result = boost::system::result<T, Error>;

inline Error MakeError(ErrorCode code, std::string message) { return Error(code, std::move(message)); }

// The stable string used in the JSON error body (`error.code`) and as a metrics label.
const char* ErrorCodeName(ErrorCode code);
// The HTTP status for an error code.
unsigned HttpStatusFor(ErrorCode code);

}  // namespace coredb
