// The one place where PostgreSQL errors become coredb::Error values: SQLSTATE codes are
// interpreted here and nowhere else (API.md "Errors").
#pragma once

#include "coredb/core/error.hpp"

#include <libpq-fe.h>

#include <optional>
#include <string>
#include <string_view>

namespace coredb::pg {

// Maps the SQLSTATE of a failed statement to an ErrorCode (the table in sqlstate.cpp, documented
// in README "SQLSTATE → HTTP"). `session_ended`: PostgreSQL sent the report with severity FATAL
// or PANIC (the session is over): always kDatabaseUnavailable, whatever the code.
ErrorCode ErrorCodeForSqlState(std::string_view sqlstate, bool session_ended = false);

// Whether `error` is the backend's fault, for the circuit breaker: PostgreSQL could not be
// reached or the session failed under us — libpq's own errors (a lost socket, a refused or timed
// out connect: kDatabaseUnavailable without `pg`) and reports that ended the session
// (kDatabaseUnavailable with pg->session_ended: 57P01 admin shutdown, 57P02 crash, 08xxx ...),
// except the session's own idle timeouts (25P03, 57P05), which the caller can set.
// Everything PostgreSQL reports at severity ERROR comes from a server that answered and keeps
// the session: it never counts, whatever its SQLSTATE (a caller can raise any SQLSTATE with
// RAISE ... USING ERRCODE; a disk-full write or an out-of-memory statement answers 503 without
// refusing everybody's reads). Nor do a full pool (kPoolTimeout) or the caller's timeout (57014).
bool IsBackendFailure(const Error& error);

// A statement's error result (PGRES_FATAL_ERROR) → Error with `pg` filled from the error fields;
// the message is PostgreSQL's primary message, except for a parameter-count mismatch (08P01 from
// Bind), which names both counts in the API's terms. A result without a SQLSTATE (libpq's own
// errors, e.g. a lost connection) becomes kDatabaseUnavailable.
Error MapPgError(const PGresult* result);

// Whether an error report ends the session (severity FATAL or PANIC): the non-localized severity
// (PostgreSQL 9.6+), else the localized one (English on most servers).
bool EndsSession(const PGresult* result);

// PostgreSQL's parameter-count refusal (exec_bind_message, 08P01: `bind message supplies 1
// parameters, but prepared statement "coredb_s3" requires 2`) in the API's terms, naming both
// counts and not the service's statement name: `wrong number of parameters: the statement
// requires 2 ($1..$2), params has 1`. nullopt for any other text (a translated one included:
// MapPgError then keeps the server's).
std::optional<std::string> ParameterCountMessage(std::string_view postgres_message);

// A connection-level failure (connect, lost socket) → kDatabaseUnavailable. `what` says what was
// being done ("could not connect to PostgreSQL"); `libpq_message` is PQerrorMessage's text. The
// message is passed through RedactSecrets, and `password` (when known) is cut out literally.
Error MapConnectionError(std::string_view what, std::string_view libpq_message, std::string_view password = {});

// Removes anything that looks like a credential from a libpq message: `password=...` values and
// the `user:password@` part of a URL; and trims trailing whitespace.
std::string RedactSecrets(std::string_view text, std::string_view password = {});

}  // namespace coredb::pg
