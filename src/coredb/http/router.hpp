// Route table: method + path template ("/api/v1/cache/{key}") → handler. Later resources add
// routes from their handler files without touching the server core. Unknown path → 404,
// known path with another method → 405 with `Allow`.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/core/percent_decode.hpp"
#include "coredb/core/principal.hpp"
#include "coredb/http/response.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace coredb::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;

struct RequestContext {
  const Request& request;
  std::string request_id;
  std::string_view route;  // the matched template: a low-cardinality label for logs and metrics
  std::vector<std::pair<std::string, std::string>> path_params;  // percent-decoded
  std::string_view query;  // raw query string (after '?'), may be empty
  Principal principal;
  // Set by SQL/Redis handlers for the audit line: a fingerprint (clients/fingerprint), never
  // the statement, its literals or its parameters.
  std::string audit_statement;
  // X-Request-Timeout (or Envoy's x-envoy-expected-rq-timeout-ms): when the whole request must
  // be answered. The server cancels the handler then (504 QUERY_TIMEOUT); handlers cut their own
  // timeouts to what remains (Budget) so that the statement's statement_timeout fits.
  std::optional<std::chrono::steady_clock::time_point> deadline{};
  // For answers streamed while the handler runs (see ResponseStream); set by the server.
  ResponseStream* stream = nullptr;

  std::string_view PathParam(std::string_view name) const;
  // `requested` cut to what remains of `deadline` (at least 1 ms); `requested` without one.
  std::chrono::milliseconds Budget(std::chrono::milliseconds requested) const;
};

using Handler = std::function<boost::asio::awaitable<Response>(RequestContext&)>;

enum class Access {
  kPublic,         // /health*: no token
  kAuthenticated,  // /api/*: a valid bearer token
  kAdmin,          // a valid bearer token with the admin scope (403 FORBIDDEN otherwise)
};

// The refusal for a caller that `access` does not admit once authenticated (kAdmin without the
// admin scope), or nullopt.
std::optional<Error> AccessDenied(Access access, const Principal& principal);

// For handlers whose routes mix scopes: 403 FORBIDDEN ("<what> needs the 'write' scope") unless
// the caller's scopes allow `scope` (write includes read, admin both).
Result<void> RequireScope(const Principal& principal, Scope scope, const char* what);

// "public", "authenticated" or "admin": how `coredb routes` and the OpenAPI check name it.
const char* AccessName(Access access);

struct Route {
  beast_http::verb method;
  std::string path_template;
  Access access = Access::kAuthenticated;
  Handler handler;
};

// One line of the route table, without its handler.
struct RouteEntry {
  std::string method;  // "GET", "POST", ...
  std::string path_template;
  Access access = Access::kAuthenticated;
};

class Router {
 public:
  void Add(beast_http::verb method, std::string path_template, Access access, Handler handler);

  // Every route, most specific first: what the OpenAPI document must describe, no more, no less
  // (tests/unit/openapi_test.cpp, `coredb routes`).
  std::vector<RouteEntry> Routes() const;

  struct Match {
    const Route* route = nullptr;                               // null: no route for this method
    std::vector<std::pair<std::string, std::string>> params;
    std::string allow;                                          // the path's methods, when none is `method`
    bool path_known = false;
    bool bad_encoding = false;                                  // a malformed percent-escape in the path
  };
  Match Find(beast_http::verb method, std::string_view path) const;

 private:
  struct Compiled {
    Route route;
    std::vector<std::string> segments;  // "{name}" marks a parameter
  };
  std::vector<Compiled> routes_;
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  // Templates without parameters, by their text (indexes into routes_): most requests are found
  // here without splitting the path or scanning the table.
  std::unordered_map<std::string, std::vector<std::size_t>, TextHash, std::equal_to<>> literal_;
};

}  // namespace coredb::http
