#include "coredb/http/response.hpp"

#include "coredb/core/json_writer.hpp"

#include <boost/beast/http/status.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>
#include <system_error>

namespace coredb::http {

namespace {

void AppendHeaderValue(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c != '\r' && c != '\n') out += c;
  }
}

}  // namespace

void AppendResponseHead(std::string& out, const ResponseHead& head) {
  out += head.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, head.status);
  (void)ec;
  out.append(digits, end);
  out += ' ';
  out += boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(head.status));
  out += "\r\nContent-Type: ";
  AppendHeaderValue(out, head.content_type);
  out += "\r\nX-Request-Id: ";
  AppendHeaderValue(out, head.request_id);
  out += "\r\n";
  for (const auto& [name, value] : head.headers) {
    AppendHeaderValue(out, name);
    out += ": ";
    AppendHeaderValue(out, value);
    out += "\r\n";
  }
  out += head.extra;
  if (head.version == 10) {
    if (head.keep_alive) out += "Connection: keep-alive\r\n";
  } else if (!head.keep_alive) {
    out += "Connection: close\r\n";
  }
  if (head.content_length) {
    out += "Content-Length: ";
    auto [len_end, len_ec] = std::to_chars(digits, digits + sizeof digits, *head.content_length);
    if (len_ec == std::errc()) {
      out.append(digits, len_end);
    } else {
      out += std::to_string(*head.content_length);
    }
    out += "\r\n";
  } else if (head.version >= 11) {
    out += "Transfer-Encoding: chunked\r\n";
  }
  out += "\r\n";
}

Response JsonResponse(unsigned status, const boost::json::value& body) {
  Response r;
  r.status = status;
  r.body = ToJson(body);
  return r;
}

boost::json::object ErrorJson(const Error& error) {
  boost::json::object e;
  e["code"] = ErrorCodeName(error.code);
  // Internal errors never describe themselves to the caller (no stack traces, no internals).
  e["message"] = error.code == ErrorCode::kInternal ? "internal error" : error.message;
  if (error.pg) {
    const PgErrorFields& pg = *error.pg;
    if (!pg.sqlstate.empty()) e["sqlstate"] = pg.sqlstate;
    if (!pg.detail.empty()) e["detail"] = pg.detail;
    if (!pg.hint.empty()) e["hint"] = pg.hint;
    if (pg.position) e["position"] = *pg.position;
    if (!pg.constraint.empty()) e["constraint"] = pg.constraint;
    if (!pg.table.empty()) e["table"] = pg.table;
    if (!pg.column.empty()) e["column"] = pg.column;
  }
  if (error.code == ErrorCode::kSerializationFailure) e["retryable"] = true;
  if (error.failed_index) e["failedIndex"] = *error.failed_index;
  return e;
}

Response ErrorResponse(const Error& error) {
  Response r = JsonResponse(HttpStatusFor(error.code), boost::json::object{{"error", ErrorJson(error)}});
  r.error_code = ErrorCodeName(error.code);
  if (error.retry_after_seconds) r.headers.emplace_back("Retry-After", std::to_string(*error.retry_after_seconds));
  return r;
}

std::string ErrorLine(const Error& error) {
  std::string line = boost::json::serialize(boost::json::object{{"error", ErrorJson(error)}});
  line += '\n';
  return line;
}

}  // namespace coredb::http
