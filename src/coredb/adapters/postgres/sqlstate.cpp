#include "coredb/adapters/postgres/sqlstate.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

namespace coredb::pg {

// The table (README "SQLSTATE → HTTP"; API.md "Errors" where it has a row):
//   session ended (FATAL, PANIC)           → 503 DATABASE_UNAVAILABLE  whatever the code
//   23xxx integrity constraint             → 409 CONSTRAINT_VIOLATION
//   40001 serialization, 40P01 deadlock    → 409 SERIALIZATION_FAILURE (retryable)
//   57014 query canceled                   → 504 QUERY_TIMEOUT
//   42501 privilege, 25006 read-only       → 403 FORBIDDEN
//   08P01 protocol violation at ERROR      → 400 QUERY_ERROR: a Bind PostgreSQL refused, e.g. a
//                                            parameter count that does not match the statement
//   other 08xxx connection exception       → 503 DATABASE_UNAVAILABLE
//   57xxx operator intervention (57P01..05)→ 503 DATABASE_UNAVAILABLE
//   53xxx insufficient resources           → 503 DATABASE_UNAVAILABLE, except 53400
//                                            configuration limit (temp_file_limit: the
//                                            statement's own size) → 400 QUERY_ERROR
//   58000 system error, 58030 I/O error    → 503 DATABASE_UNAVAILABLE; 58P01/58P02 (a file the
//                                            statement names) → 400 QUERY_ERROR
//   anything else (22 data, 42 syntax and undefined objects, 0A, 54, 21, 25P02, 55, P0, XX, ...)
//                                          → 400 QUERY_ERROR
// Whether the breaker counts it is IsBackendFailure's business, not the status's.
ErrorCode ErrorCodeForSqlState(std::string_view s, bool session_ended) {
  if (session_ended) return ErrorCode::kDatabaseUnavailable;
  if (s.size() != 5) return ErrorCode::kQueryError;
  const std::string_view cls = s.substr(0, 2);
  if (cls == "23") return ErrorCode::kConstraintViolation;  // integrity_constraint_violation
  if (s == "40001" || s == "40P01") return ErrorCode::kSerializationFailure;
  if (s == "57014") return ErrorCode::kQueryTimeout;               // query_canceled
  if (s == "42501" || s == "25006") return ErrorCode::kForbidden;  // insufficient_privilege, read_only_sql_transaction
  if (s == "08P01") return ErrorCode::kQueryError;                 // protocol_violation: a refused Bind
  // connection_exception, operator_intervention
  if (cls == "08" || cls == "57") return ErrorCode::kDatabaseUnavailable;
  if (cls == "53") return s == "53400" ? ErrorCode::kQueryError : ErrorCode::kDatabaseUnavailable;
  if (s == "58000" || s == "58030") return ErrorCode::kDatabaseUnavailable;  // system_error, io_error
  return ErrorCode::kQueryError;
}

bool IsBackendFailure(const Error& error) {
  if (error.code != ErrorCode::kDatabaseUnavailable) return false;
  if (!error.pg) return true;  // libpq's own: lost socket, refused or timed out connect
  const std::string_view s = error.pg->sqlstate;
  // idle_in_transaction_session_timeout, idle_session_timeout: settings any session may change.
  if (s == "25P03" || s == "57P05") return false;
  return error.pg->session_ended;
}

namespace {

std::string Field(const PGresult* result, int code) {
  const char* v = PQresultErrorField(result, code);
  return v ? std::string(v) : std::string();
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Reads a decimal count at `text`'s start and drops it; nullopt when there is none.
std::optional<long> TakeCount(std::string_view& text) {
  long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(ptr - text.data()));
  return value;
}

bool TakePrefix(std::string_view& text, std::string_view prefix) {
  if (text.substr(0, prefix.size()) != prefix) return false;
  text.remove_prefix(prefix.size());
  return true;
}

bool IEqualsAt(std::string_view text, std::size_t pos, std::string_view word) {
  if (pos + word.size() > text.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[pos + i])) != word[i]) return false;
  }
  return true;
}

}  // namespace

bool EndsSession(const PGresult* result) {
  const char* severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity == nullptr) severity = PQresultErrorField(result, PG_DIAG_SEVERITY);
  const std::string_view v = severity != nullptr ? severity : "";
  return v == "FATAL" || v == "PANIC";
}

std::optional<std::string> ParameterCountMessage(std::string_view text) {
  if (!TakePrefix(text, "bind message supplies ")) return std::nullopt;
  const auto supplied = TakeCount(text);
  if (!supplied || !TakePrefix(text, " parameters, but prepared statement \"")) return std::nullopt;
  const auto quote = text.rfind("\" requires ");
  if (quote == std::string_view::npos) return std::nullopt;
  text.remove_prefix(quote + 11);
  const auto required = TakeCount(text);
  if (!required || !text.empty()) return std::nullopt;
  std::string message = "wrong number of parameters: the statement ";
  if (*required == 0) {
    message += "takes none";
  } else {
    message += "requires " + std::to_string(*required) + " ($1";
    if (*required > 1) message += "..$" + std::to_string(*required);
    message += ")";
  }
  message += ", params has " + std::to_string(*supplied);
  return message;
}

Error MapPgError(const PGresult* result) {
  if (result == nullptr) return Error(ErrorCode::kDatabaseUnavailable, "no result from PostgreSQL");
  PgErrorFields f;
  f.sqlstate = Field(result, PG_DIAG_SQLSTATE);
  std::string message = Field(result, PG_DIAG_MESSAGE_PRIMARY);
  if (f.sqlstate.empty()) {
    // libpq's own error (connection lost, protocol trouble): no SQLSTATE, no server fields.
    const char* text = PQresultErrorMessage(result);
    return MapConnectionError("PostgreSQL connection failed", text ? text : "");
  }
  f.detail = Field(result, PG_DIAG_MESSAGE_DETAIL);
  f.hint = Field(result, PG_DIAG_MESSAGE_HINT);
  const std::string position = Field(result, PG_DIAG_STATEMENT_POSITION);
  if (!position.empty()) {
    int p = 0;
    auto [ptr, ec] = std::from_chars(position.data(), position.data() + position.size(), p);
    if (ec == std::errc() && ptr == position.data() + position.size()) f.position = p;
  }
  f.constraint = Field(result, PG_DIAG_CONSTRAINT_NAME);
  f.table = Field(result, PG_DIAG_TABLE_NAME);
  f.column = Field(result, PG_DIAG_COLUMN_NAME);
  if (message.empty()) message = std::string(TrimRight(PQresultErrorMessage(result)));
  f.session_ended = EndsSession(result);
  if (f.sqlstate == "25P02") {
    message += " (the transaction is aborted: roll it back before running other statements)";
  } else if (f.sqlstate == "08P01") {
    if (auto counts = ParameterCountMessage(message)) message = std::move(*counts);
  }
  Error error(ErrorCodeForSqlState(f.sqlstate, f.session_ended), std::move(message));
  error.pg = std::move(f);
  return error;
}

std::string RedactSecrets(std::string_view text, std::string_view password) {
  std::string out(TrimRight(text));
  if (!password.empty()) {
    for (std::size_t pos = out.find(password); pos != std::string::npos; pos = out.find(password, pos + 3)) {
      out.replace(pos, password.size(), "***");
    }
  }
  // key=value form: password=secret / password = 'se cret'
  constexpr std::string_view kKey = "password";
  for (std::size_t pos = 0; pos < out.size(); ++pos) {
    if (!IEqualsAt(out, pos, kKey)) continue;
    std::size_t i = pos + kKey.size();
    while (i < out.size() && out[i] == ' ') ++i;
    if (i >= out.size() || out[i] != '=') continue;
    ++i;
    while (i < out.size() && out[i] == ' ') ++i;
    std::size_t end = i;
    if (end < out.size() && out[end] == '\'') {
      ++end;
      while (end < out.size() && out[end] != '\'') end += (out[end] == '\\' && end + 1 < out.size()) ? 2 : 1;
      if (end < out.size()) ++end;
    } else {
      while (end < out.size() && !std::isspace(static_cast<unsigned char>(out[end])) && out[end] != '&' &&
             out[end] != '"') {
        ++end;
      }
    }
    out.replace(i, end - i, "***");
    pos = i;
  }
  // URL form: scheme://user:secret@host
  for (std::size_t scheme = out.find("://"); scheme != std::string::npos; scheme = out.find("://", scheme + 3)) {
    const std::size_t start = scheme + 3;
    const std::size_t at = out.find('@', start);
    const std::size_t stop = out.find_first_of("/? \t\n\"'", start);
    if (at == std::string::npos || (stop != std::string::npos && stop < at)) continue;
    const std::size_t colon = out.find(':', start);
    if (colon == std::string::npos || colon > at) continue;
    out.replace(colon + 1, at - colon - 1, "***");
  }
  return out;
}

Error MapConnectionError(std::string_view what, std::string_view libpq_message, std::string_view password) {
  std::string message(what);
  const std::string detail = RedactSecrets(libpq_message, password);
  if (!detail.empty()) {
    message += ": ";
    // libpq's messages span lines ("...failed: Connection refused\n\tIs the server running...").
    for (char c : detail) message += (c == '\n' || c == '\t') ? ' ' : c;
    // collapse the doubled spaces the replacement can leave
    message.erase(std::unique(message.begin(), message.end(), [](char a, char b) { return a == ' ' && b == ' '; }),
                  message.end());
  }
  return Error(ErrorCode::kDatabaseUnavailable, std::move(message));
}

}  // namespace coredb::pg
