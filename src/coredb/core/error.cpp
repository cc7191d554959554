#include "coredb/core/error.hpp"

namespace coredb {

// The one table mapping expected failures to the API's codes and HTTP statuses (API.md "Errors").
namespace {
struct ErrorRow {
  const char* name;
  unsigned status;
};

ErrorRow RowFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest: return {"INVALID_REQUEST", 400};
    case ErrorCode::kQueryError: return {"QUERY_ERROR", 400};
    case ErrorCode::kUnauthenticated: return {"UNAUTHENTICATED", 401};
    case ErrorCode::kForbidden: return {"FORBIDDEN", 403};
    case ErrorCode::kNotFound: return {"NOT_FOUND", 404};
    case ErrorCode::kMethodNotAllowed: return {"METHOD_NOT_ALLOWED", 405};
    case ErrorCode::kConstraintViolation: return {"CONSTRAINT_VIOLATION", 409};
    case ErrorCode::kSerializationFailure: return {"SERIALIZATION_FAILURE", 409};
    case ErrorCode::kConflict: return {"CONFLICT", 409};
    case ErrorCode::kLeaseExpired: return {"LEASE_EXPIRED", 410};
    case ErrorCode::kTransactionExpired: return {"TRANSACTION_EXPIRED", 410};
    case ErrorCode::kPayloadTooLarge: return {"PAYLOAD_TOO_LARGE", 413};
    case ErrorCode::kUnsupportedMediaType: return {"UNSUPPORTED_MEDIA_TYPE", 415};
    case ErrorCode::kRateLimited: return {"RATE_LIMITED", 429};
    case ErrorCode::kInternal: return {"INTERNAL", 500};
    case ErrorCode::kDatabaseUnavailable: return {"DATABASE_UNAVAILABLE", 503};
    case ErrorCode::kPoolTimeout: return {"POOL_TIMEOUT", 503};
    case ErrorCode::kCircuitOpen: return {"CIRCUIT_OPEN", 503};
    case ErrorCode::kQueryTimeout: return {"QUERY_TIMEOUT", 504};
  }
  return {"INTERNAL", 500};
}
}  // namespace

const char* ErrorCodeName(ErrorCode code) { return RowFor(code).name; }
unsigned HttpStatusFor(ErrorCode code) { return RowFor(code).status; }

}  // namespace coredb
