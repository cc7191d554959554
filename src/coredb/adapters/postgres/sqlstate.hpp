// The one place where PostgreSQL errors become coredb::Error values: SQLSTATE codes are
// interpreted here and nowhere else (API.md "Errors").
#pragma once

#include "coredb/core/error.hpp"

#include <libpq-fe.h>

#include <string>
#include <string_view>

namespace coredb::pg {

// Maps the SQLSTATE of a failed statement to an ErrorCode (see the table in sqlstate.cpp).
ErrorCode ErrorCodeForSqlState(std::string_view sqlstate);

// Whether `error` is the backend's fault, for the circuit breaker: the server or the connection
// to it failed (kDatabaseUnavailable: SQLSTATE class 08, 57P01..57P03 shutdown, 53300 too many
// connections, a lost socket, a refused connect) or the server ran out of resources (class 53:
// disk full, out of memory; class 58: I/O error). Everything else is the caller's: SQL errors,
// constraint violations, privilege, serialization failures, a statement cancelled by the timeout
// the caller chose (57014), a full pool (kPoolTimeout: our own saturation, not a dead backend).
bool IsBackendFailure(const Error& error);

// A statement's error result (PGRES_FATAL_ERROR) → Error with `pg` filled from the error fields;
// the message is PostgreSQL's primary message. A result without a SQLSTATE (libpq's own errors,
// e.g. a lost connection) becomes kDatabaseUnavailable.
Error MapPgError(const PGresult* result);

// A connection-level failure (connect, lost socket) → kDatabaseUnavailable. `what` says what was
// being done ("could not connect to PostgreSQL"); `libpq_message` is PQerrorMessage's text. The
// message is passed through RedactSecrets, and `password` (when known) is cut out literally.
Error MapConnectionError(std::string_view what, std::string_view libpq_message, std::string_view password = {});

// Removes anything that looks like a credential from a libpq message: `password=...` values and
// the `user:password@` part of a URL; and trims trailing whitespace.
std::string RedactSecrets(std::string_view text, std::string_view password = {});

}  // namespace coredb::pg
