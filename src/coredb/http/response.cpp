#include "coredb/http/response.hpp"

#include "coredb/core/json_writer.hpp"

#include <boost/json/serialize.hpp>

namespace coredb::http {

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
