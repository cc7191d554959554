// Which PostgreSQL errors the circuit breaker counts as the backend's failures (issue 7).
#include "coredb/adapters/postgres/sqlstate.hpp"

#include <gtest/gtest.h>

namespace coredb::pg {
namespace {

Error PgError(const std::string& sqlstate) {
  Error e(ErrorCodeForSqlState(sqlstate), "x");
  e.pg.emplace();
  e.pg->sqlstate = sqlstate;
  return e;
}

TEST(BackendFailure, ConnectionShutdownAndResourceErrorsCount) {
  for (const char* s : {"08006", "08001", "57P01", "57P02", "57P03", "53300", "53100", "53200", "58030"}) {
    EXPECT_TRUE(IsBackendFailure(PgError(s))) << s;
  }
  // libpq's own errors (lost socket, refused connect) have no SQLSTATE.
  EXPECT_TRUE(IsBackendFailure(MapConnectionError("could not connect to PostgreSQL", "Connection refused")));
}

TEST(BackendFailure, TheCallersErrorsNeverCount) {
  // syntax, undefined table, division by zero, constraint, privilege, read-only, serialization,
  // deadlock, the caller's own statement timeout, an aborted transaction block
  for (const char* s : {"42601", "42P01", "22012", "23505", "23503", "42501", "25006", "40001", "40P01", "57014",
                        "25P02", "XX000"}) {
    EXPECT_FALSE(IsBackendFailure(PgError(s))) << s;
  }
  EXPECT_FALSE(IsBackendFailure(Error(ErrorCode::kPoolTimeout, "no connection within 100 ms")));
  EXPECT_FALSE(IsBackendFailure(Error(ErrorCode::kPayloadTooLarge, "too big")));
  EXPECT_FALSE(IsBackendFailure(Error(ErrorCode::kInvalidRequest, "bad param")));
}

}  // namespace
}  // namespace coredb::pg
