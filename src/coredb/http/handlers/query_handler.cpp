#include "coredb/http/handlers/query_handler.hpp"

#include "coredb/http/json_body.hpp"
#include "coredb/http/response.hpp"

#include <boost/json/serialize.hpp>

#include <chrono>

namespace coredb::http {
namespace {

constexpr std::int64_t kMaxTimeoutMs = 300000;
constexpr std::size_t kMaxParams = 65535;        // the protocol's limit on bind parameters
constexpr std::size_t kMaxRedisArgs = 100000;

double MillisSince(std::chrono::steady_clock::time_point start) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(ns / 1000) / 1000.0;  // microsecond resolution
}

}  // namespace

Result<QueryRequest> ParseQueryRequest(const boost::json::object& body, std::chrono::milliseconds default_timeout) {
  FieldReader in(body);
  in.AllowOnly({"sql", "params", "connectionId", "transactionId", "database", "timeout", "rowMode", "cache",
                "invalidate", "command"});
  QueryRequest q;
  q.timeout = default_timeout;
  if (auto db = in.String("database")) {
    if (*db == "postgresql") q.database = Database::kPostgresql;
    else if (*db == "vector") q.database = Database::kVector;
    else if (*db == "redis") q.database = Database::kRedis;
    else in.Fail("unknown database '" + std::string(*db) + "' (expected postgresql, vector or redis)");
  }
  if (auto t = in.Integer("timeout", 1, kMaxTimeoutMs)) q.timeout = std::chrono::milliseconds(*t);
  q.connection_id = in.String("connectionId");
  q.transaction_id = in.String("transactionId");
  if (in.failed()) return in.error();

  if (q.database == Database::kRedis) {
    for (const char* member : {"sql", "params", "rowMode", "cache", "invalidate"}) {
      if (in.Has(member)) {
        return MakeError(ErrorCode::kInvalidRequest,
                         std::string("'") + member + "' does not apply to database redis (send 'command')");
      }
    }
    const boost::json::array* command = in.Array("command", FieldReader::Required::kYes);
    if (in.failed()) return in.error();
    if (command->empty() || command->size() > kMaxRedisArgs) {
      return MakeError(ErrorCode::kInvalidRequest, "'command' must hold 1.." + std::to_string(kMaxRedisArgs) +
                                                       " strings, the command name first");
    }
    q.command.reserve(command->size());
    for (std::size_t i = 0; i < command->size(); ++i) {
      const auto& arg = (*command)[i];
      if (!arg.is_string()) {
        return MakeError(ErrorCode::kInvalidRequest, "'command[" + std::to_string(i) + "]' must be a string");
      }
      q.command.emplace_back(arg.as_string());
    }
    return q;
  }

  if (in.Has("command")) {
    return MakeError(ErrorCode::kInvalidRequest, "'command' only applies to database redis (send 'sql')");
  }
  auto sql = in.String("sql", FieldReader::Required::kYes);
  q.params = in.Array("params");
  if (auto mode = in.String("rowMode")) {
    if (*mode == "object") q.row_mode = RowMode::kObject;
    else if (*mode == "array") q.row_mode = RowMode::kArray;
    else in.Fail("'rowMode' must be \"object\" or \"array\"");
  }
  if (in.failed()) return in.error();
  if (sql->find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidRequest, "'sql' must not be empty");
  }
  // libpq takes C strings: a NUL would silently cut the statement short.
  if (sql->find('\0') != std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidRequest, "'sql' must not contain NUL characters");
  }
  if (q.params != nullptr && q.params->size() > kMaxParams) {
    return MakeError(ErrorCode::kInvalidRequest, "'params' holds more than " + std::to_string(kMaxParams) +
                                                     " values (the PostgreSQL protocol limit)");
  }
  q.sql = *sql;
  if (in.Has("cache") || in.Has("invalidate")) {
    // Cache-aside is not built yet: refusing is honest; silently ignoring would not be.
    return MakeError(ErrorCode::kInvalidRequest, "'cache' and 'invalidate' are not supported by this version yet");
  }
  return q;
}

void RegisterQueryRoutes(Router& router, QueryDependencies deps) {
  router.Add(beast_http::verb::post, "/api/v1/query", Access::kAuthenticated,
             [deps](RequestContext& ctx) -> boost::asio::awaitable<Response> {
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto q = ParseQueryRequest(*body, deps.default_timeout);
               if (!q) co_return ErrorResponse(q.error());
               if (q->connection_id) {
                 co_return ErrorResponse(
                     MakeError(ErrorCode::kNotFound, "unknown connectionId '" + std::string(*q->connection_id) + "'"));
               }
               if (q->transaction_id) {
                 co_return ErrorResponse(MakeError(
                     ErrorCode::kNotFound, "unknown transactionId '" + std::string(*q->transaction_id) + "'"));
               }
               if (q->database == Database::kRedis) {
                 auto started = std::chrono::steady_clock::now();
                 auto reply = co_await deps.redis.Command(std::move(q->command), q->timeout);
                 if (!reply) co_return ErrorResponse(reply.error());
                 co_return JsonResponse(200, boost::json::object{{"result", std::move(*reply)},
                                                                 {"duration", MillisSince(started)}});
               }
               SqlBackend& backend = q->database == Database::kVector ? deps.vector : deps.postgres;
               SqlStatement statement{q->sql, q->params, q->row_mode, q->timeout};
               auto outcome = co_await backend.Run(statement);
               if (!outcome) co_return ErrorResponse(outcome.error());
               outcome->body["duration"] = outcome->duration_ms;
               co_return JsonResponse(200, outcome->body);
             });
}

}  // namespace coredb::http
