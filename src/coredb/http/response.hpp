// What a handler answers: a status, a JSON body and extra headers. The session adds the
// standard headers (X-Request-Id, Content-Type, Connection).
#pragma once

#include "coredb/core/error.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <utility>
#include <vector>

namespace coredb::http {

struct Response {
  unsigned status = 200;
  std::string body;  // serialized JSON (or text for /metrics)
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  const char* error_code = nullptr;  // set by ErrorResponse: the code for logs and metrics
};

Response JsonResponse(unsigned status, const boost::json::value& body);
// The error model of API.md: {"error": {"code", "message", ...}} with the mapped status.
Response ErrorResponse(const Error& error);
boost::json::object ErrorJson(const Error& error);

}  // namespace coredb::http
