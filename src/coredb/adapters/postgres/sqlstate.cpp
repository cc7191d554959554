#include "coredb/adapters/postgres/sqlstate.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace coredb::pg {

ErrorCode ErrorCodeForSqlState(std::string_view s) {
  if (s.size() != 5) return ErrorCode::kQueryError;
  const std::string_view cls = s.substr(0, 2);
  if (cls == "23") return ErrorCode::kConstraintViolation;          // integrity_constraint_violation
  if (s == "40001" || s == "40P01") return ErrorCode::kSerializationFailure;
  if (s == "57014") return ErrorCode::kQueryTimeout;                // query_canceled
  if (s == "42501" || s == "25006") return ErrorCode::kForbidden;   // insufficient_privilege, read_only_sql_transaction
  if (cls == "08") return ErrorCode::kDatabaseUnavailable;          // connection_exception
  if (s == "57P01" || s == "57P02" || s == "57P03" || s == "53300") {
    return ErrorCode::kDatabaseUnavailable;  // admin/crash shutdown, cannot connect now, too many connections
  }
  return ErrorCode::kQueryError;
}

bool IsBackendFailure(const Error& error) {
  if (error.code == ErrorCode::kDatabaseUnavailable) return true;
  if (!error.pg || error.pg->sqlstate.size() != 5) return false;
  const std::string_view cls = std::string_view(error.pg->sqlstate).substr(0, 2);
  return cls == "53" || cls == "58";
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

bool IEqualsAt(std::string_view text, std::size_t pos, std::string_view word) {
  if (pos + word.size() > text.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[pos + i])) != word[i]) return false;
  }
  return true;
}

}  // namespace

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
  if (f.sqlstate == "25P02") {
    message += " (the transaction is aborted: roll it back before running other statements)";
  }
  Error error(ErrorCodeForSqlState(f.sqlstate), std::move(message));
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
