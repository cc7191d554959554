// Which PostgreSQL errors the circuit breaker counts as the backend's failures (issues 7, 21),
// and the SQLSTATE → API error table (README "SQLSTATE → HTTP"), row by row.
#include "coredb/adapters/postgres/sqlstate.hpp"

#include <gtest/gtest.h>

namespace coredb::pg {
namespace {

// An error as MapPgError makes it from a report of this SQLSTATE; `session_ended`: it came
// with severity FATAL/PANIC (or the connection was lost right after it).
Error PgError(const std::string& sqlstate, bool session_ended = false) {
  Error e(ErrorCodeForSqlState(sqlstate, session_ended), "x");
  e.pg.emplace();
  e.pg->sqlstate = sqlstate;
  e.pg->session_ended = session_ended;
  return e;
}

TEST(SqlStateTable, TheCallersMistakesAreQueryErrors) {
  // 08P01 at ERROR is a Bind PostgreSQL refused (a parameter count that does not match the
  // statement); class 22 data exceptions; class 42 syntax and undefined objects; feature not
  // supported; program limits; cardinality; an aborted transaction; lock not available; files the
  // statement names; temp_file_limit; RAISE; internal errors (tied to the statement).
  for (const char* s :
       {"08P01", "22000", "22001", "22003", "22007", "22008", "22012", "22021", "22023", "2201B", "2201E", "2201W",
        "2201X", "22P02", "22P03", "42601", "42P01", "42703", "42883", "42702", "42804", "42P18", "42P02", "42704",
        "0A000", "54000", "54001", "54023", "21000", "25P02", "25001", "26000", "34000", "3F000", "2BP01", "55P03",
        "55006", "53400", "58P01", "58P02", "P0001", "44000", "40002", "XX000", "XX001"}) {
    EXPECT_EQ(ErrorCodeForSqlState(s), ErrorCode::kQueryError) << s;
  }
}

TEST(SqlStateTable, ApiRowsForConstraintsSerializationTimeoutAndPrivilege) {
  for (const char* s : {"23000", "23502", "23503", "23505", "23514", "23P01"}) {
    EXPECT_EQ(ErrorCodeForSqlState(s), ErrorCode::kConstraintViolation) << s;
  }
  EXPECT_EQ(ErrorCodeForSqlState("40001"), ErrorCode::kSerializationFailure);
  EXPECT_EQ(ErrorCodeForSqlState("40P01"), ErrorCode::kSerializationFailure);
  EXPECT_EQ(ErrorCodeForSqlState("57014"), ErrorCode::kQueryTimeout);
  EXPECT_EQ(ErrorCodeForSqlState("42501"), ErrorCode::kForbidden);
  EXPECT_EQ(ErrorCodeForSqlState("25006"), ErrorCode::kForbidden);
}

TEST(SqlStateTable, ConnectionOperatorResourceAndSystemErrorsAreDatabaseUnavailable) {
  for (const char* s : {"08000", "08001", "08003", "08004", "08006", "08007", "57000", "57P01", "57P02", "57P03",
                        "57P04", "57P05", "53000", "53100", "53200", "53300", "58000", "58030"}) {
    EXPECT_EQ(ErrorCodeForSqlState(s), ErrorCode::kDatabaseUnavailable) << s;
  }
}

TEST(SqlStateTable, AReportThatEndsTheSessionIsDatabaseUnavailableWhateverItsCode) {
  for (const char* s : {"08P01", "25P03", "57P01", "22012", "XX000", "28000"}) {
    EXPECT_EQ(ErrorCodeForSqlState(s, /*session_ended=*/true), ErrorCode::kDatabaseUnavailable) << s;
  }
}

TEST(SqlStateTable, MalformedSqlStateIsAQueryError) {
  EXPECT_EQ(ErrorCodeForSqlState(""), ErrorCode::kQueryError);
  EXPECT_EQ(ErrorCodeForSqlState("0800"), ErrorCode::kQueryError);
  EXPECT_EQ(ErrorCodeForSqlState("080000"), ErrorCode::kQueryError);
}

TEST(SqlStateTable, AParameterCountMismatchNamesBothCountsNotTheStatementsName) {
  EXPECT_EQ(
      ParameterCountMessage("bind message supplies 1 parameters, but prepared statement \"coredb_s7\" requires 2"),
      "wrong number of parameters: the statement requires 2 ($1..$2), params has 1");
  EXPECT_EQ(ParameterCountMessage("bind message supplies 3 parameters, but prepared statement \"\" requires 1"),
            "wrong number of parameters: the statement requires 1 ($1), params has 3");
  EXPECT_EQ(ParameterCountMessage("bind message supplies 1 parameters, but prepared statement \"\" requires 0"),
            "wrong number of parameters: the statement takes none, params has 1");
  // Other 08P01 texts and translations keep PostgreSQL's own message.
  EXPECT_FALSE(ParameterCountMessage("insufficient data left in message").has_value());
  EXPECT_FALSE(ParameterCountMessage("bind message has 2 parameter formats but 1 parameters").has_value());
  EXPECT_FALSE(ParameterCountMessage("Bind-Nachricht enthält 1 Parameter, aber vorbereitete Anweisung »« erfordert 2")
                   .has_value());
  EXPECT_FALSE(
      ParameterCountMessage("bind message supplies 1 parameters, but prepared statement \"\" requires 2x").has_value());
}

TEST(BackendFailure, LostConnectionsAndSessionsEndedByTheServerCount) {
  // libpq's own errors (lost socket, refused connect) have no SQLSTATE.
  EXPECT_TRUE(IsBackendFailure(MapConnectionError("could not connect to PostgreSQL", "Connection refused")));
  EXPECT_TRUE(IsBackendFailure(Error(ErrorCode::kDatabaseUnavailable, "lost the connection to PostgreSQL")));
  // FATAL reports: shutdown, crash, a protocol violation that ends the session, resources.
  for (const char* s : {"08006", "08P01", "57P01", "57P02", "57P03", "57P04", "53300", "53200", "58030", "XX000"}) {
    EXPECT_TRUE(IsBackendFailure(PgError(s, /*session_ended=*/true))) << s;
  }
}

TEST(BackendFailure, ReportsAtSeverityErrorNeverCountWhateverTheirCode) {
  // The server answered and the session goes on; a caller can raise any of these with
  // RAISE ... USING ERRCODE, and a disk-full write must not refuse everybody's reads.
  for (const char* s : {"08P01", "08006", "08001", "57P01", "53100", "53200", "53300", "58000", "58030"}) {
    const Error e = PgError(s);
    EXPECT_FALSE(IsBackendFailure(e)) << s;
  }
}

TEST(BackendFailure, TheSessionsOwnIdleTimeoutsNeverCount) {
  // idle_in_transaction_session_timeout, idle_session_timeout: any session may set them.
  EXPECT_FALSE(IsBackendFailure(PgError("25P03", /*session_ended=*/true)));
  EXPECT_FALSE(IsBackendFailure(PgError("57P05", /*session_ended=*/true)));
}

TEST(BackendFailure, TheCallersErrorsNeverCount) {
  // syntax, undefined table, division by zero, constraint, privilege, read-only, serialization,
  // deadlock, the caller's own statement timeout, an aborted transaction block, a bad Bind
  for (const char* s : {"42601", "42P01", "22012", "23505", "23503", "42501", "25006", "40001", "40P01", "57014",
                        "25P02", "XX000", "08P01", "0A000", "54000", "53400"}) {
    EXPECT_FALSE(IsBackendFailure(PgError(s))) << s;
  }
  EXPECT_FALSE(IsBackendFailure(Error(ErrorCode::kPoolTimeout, "no connection within 100 ms")));
  EXPECT_FALSE(IsBackendFailure(Error(ErrorCode::kPayloadTooLarge, "too big")));
  EXPECT_FALSE(IsBackendFailure(Error(ErrorCode::kInvalidRequest, "bad param")));
}

}  // namespace
}  // namespace coredb::pg
