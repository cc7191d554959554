#include "coredb/http/handlers/saga_handler.hpp"

#include "coredb/clients/fingerprint.hpp"
#include "coredb/clients/redis_scope.hpp"

#include "coredb/core/percent_decode.hpp"
#include "coredb/http/json_body.hpp"
#include "coredb/http/response.hpp"

#include <charconv>

namespace coredb::http {

namespace {

// The audit line's fingerprint of a saga: its steps' statements, never their values (a Redis
// step by its command name only).
std::string AuditFingerprint(const sagas::SagaDefinition& definition) {
  std::vector<std::string> pieces;
  auto add = [&](const sagas::StepRequest& request) {
    if (request.database == Database::kRedis) {
      const auto* command = request.json.if_contains("command");
      const auto* args = command != nullptr ? command->if_array() : nullptr;
      const auto* name = args != nullptr && !args->empty() ? args->front().if_string() : nullptr;
      pieces.push_back(clients::RedisFingerprint(name != nullptr ? std::string_view(*name) : std::string_view{}));
    } else {
      const auto* sql = request.json.if_contains("sql");
      pieces.emplace_back(sql != nullptr && sql->is_string() ? std::string_view(sql->get_string()) : std::string_view{});
    }
  };
  for (const auto& step : definition.steps) {
    add(step.action);
    if (step.compensation) {
      add(*step.compensation);
    } else {
      pieces.emplace_back("null");
    }
  }
  std::vector<std::string_view> views(pieces.begin(), pieces.end());
  return clients::SagaFingerprint(views);
}

using boost::asio::awaitable;
namespace json = boost::json;

constexpr std::size_t kMaxIdempotencyKey = 255;
constexpr std::size_t kDefaultListLimit = 50;
constexpr std::size_t kMaxListLimit = 500;

// 200 with the saga object, or the error model with the saga in `error.saga`.
Response OutcomeResponse(const sagas::SagaOutcome& outcome) {
  if (outcome.http_status == 200) return JsonResponse(200, outcome.saga);
  const bool compensated = outcome.http_status == 409;
  const char* code = compensated ? "SAGA_COMPENSATED" : "SAGA_FAILED";
  std::string message = compensated ? "a step failed; the steps before it were compensated"
                                    : "a step failed and a compensation kept failing: the saga needs an operator";
  Response r = JsonResponse(outcome.http_status,
                            json::object{{"error", json::object{{"code", code}, {"message", message}, {"saga", outcome.saga}}}});
  r.error_code = code;
  return r;
}

// The value of `name` in a query string ("a=1&b=2"), percent-decoded; nullopt when absent.
Result<std::optional<std::string>> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    const std::string_view raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    auto decoded = PercentDecode(raw, /*plus_as_space=*/true);
    if (!decoded) return Error(ErrorCode::kInvalidRequest, "malformed query parameter '" + std::string(name) + "'");
    return std::optional<std::string>(std::move(*decoded));
  }
  return std::optional<std::string>();
}

// Redis steps need the scope their command needs (clients/redis_scope): a `write` client must
// not reach FLUSHALL through a saga. A command name given by a placeholder is only known at run
// time: it needs `admin`.
Result<void> CheckRedisStepScopes(const Principal& principal, const sagas::SagaDefinition& definition) {
  auto check = [&](const sagas::StepRequest& request) -> Result<void> {
    if (request.database != Database::kRedis) return {};
    std::vector<std::string> command;
    if (const auto* c = request.json.if_contains("command"); c != nullptr && c->is_array()) {
      for (const auto& part : c->as_array()) command.emplace_back(part.is_string() ? part.as_string().c_str() : "");
    }
    if (!command.empty() && command.front().find("${") != std::string::npos && !principal.Allows(Scope::kAdmin)) {
      return MakeError(ErrorCode::kForbidden, "a Redis command name given by a placeholder needs the 'admin' scope");
    }
    return clients::CheckRedisCommandScope(principal, command);
  };
  for (const auto& step : definition.steps) {
    if (auto ok = check(step.action); !ok) return ok;
    if (step.compensation) {
      if (auto ok = check(*step.compensation); !ok) return ok;
    }
  }
  return {};
}

}  // namespace

void RegisterSagaRoutes(Router& router, sagas::SagaService& service) {
  auto* sagas = &service;
  router.Add(beast_http::verb::post, "/api/v1/sagas", Access::kAuthenticated,
             [sagas](RequestContext& ctx) -> awaitable<Response> {
               if (auto allowed = RequireScope(ctx.principal, Scope::kWrite, "running a saga"); !allowed) {
                 co_return ErrorResponse(allowed.error());
               }
               if (!ctx.principal.pg_role.empty()) {
                 // Steps (and recovery after a crash) run as the service's login: not for a role client.
                 co_return ErrorResponse(Error(ErrorCode::kForbidden,
                                               "sagas do not run as a client's PostgreSQL role in this version"));
               }
               std::optional<std::string> key;
               if (auto it = ctx.request.find("Idempotency-Key"); it != ctx.request.end()) {
                 const std::string_view v = it->value();
                 const bool printable = std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7f; });
                 if (v.empty() || v.size() > kMaxIdempotencyKey || !printable) {
                   co_return ErrorResponse(Error(ErrorCode::kInvalidRequest,
                                                 "Idempotency-Key must be 1..255 visible ASCII characters"));
                 }
                 key = std::string(v);
               }
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto definition = sagas::ParseSagaDefinition(*body);
               if (!definition) co_return ErrorResponse(definition.error());
               ctx.audit_statement = AuditFingerprint(*definition);
               if (auto allowed = CheckRedisStepScopes(ctx.principal, *definition); !allowed) {
                 co_return ErrorResponse(allowed.error());
               }
               auto outcome =
                   co_await sagas->Run(ctx.principal, *definition, std::move(key), sagas::RequestHash(ctx.request.body()),
                                       ctx.deadline);
               if (!outcome) co_return ErrorResponse(outcome.error());
               co_return OutcomeResponse(*outcome);
             });

  router.Add(beast_http::verb::post, "/api/v1/sagas/{id}/compensate", Access::kAuthenticated,
             [sagas](RequestContext& ctx) -> awaitable<Response> {
               if (auto allowed = RequireScope(ctx.principal, Scope::kWrite, "compensating a saga"); !allowed) {
                 co_return ErrorResponse(allowed.error());
               }
               if (!ctx.principal.pg_role.empty()) {
                 // Steps (and recovery after a crash) run as the service's login: not for a role client.
                 co_return ErrorResponse(Error(ErrorCode::kForbidden,
                                               "sagas do not run as a client's PostgreSQL role in this version"));
               }
               auto outcome = co_await sagas->Compensate(ctx.principal, std::string(ctx.PathParam("id")));
               if (!outcome) co_return ErrorResponse(outcome.error());
               co_return OutcomeResponse(*outcome);
             });

  router.Add(beast_http::verb::get, "/api/v1/sagas/{id}", Access::kAuthenticated,
             [sagas](RequestContext& ctx) -> awaitable<Response> {
               auto saga = co_await sagas->Get(ctx.principal, std::string(ctx.PathParam("id")));
               if (!saga) co_return ErrorResponse(saga.error());
               co_return JsonResponse(200, *saga);
             });

  router.Add(beast_http::verb::get, "/api/v1/sagas", Access::kAuthenticated,
             [sagas](RequestContext& ctx) -> awaitable<Response> {
               auto status = QueryParam(ctx.query, "status");
               if (!status) co_return ErrorResponse(status.error());
               if (*status) {
                 static constexpr std::string_view kStatuses[] = {"running", "completed", "compensating",
                                                                  "compensated", "failed"};
                 if (std::find(std::begin(kStatuses), std::end(kStatuses), **status) == std::end(kStatuses)) {
                   co_return ErrorResponse(Error(ErrorCode::kInvalidRequest,
                                                 "'status' must be running, completed, compensating, compensated "
                                                 "or failed"));
                 }
               }
               auto limit_text = QueryParam(ctx.query, "limit");
               if (!limit_text) co_return ErrorResponse(limit_text.error());
               std::size_t limit = kDefaultListLimit;
               if (*limit_text) {
                 const std::string& t = **limit_text;
                 auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), limit);
                 if (ec != std::errc() || ptr != t.data() + t.size() || limit < 1 || limit > kMaxListLimit) {
                   co_return ErrorResponse(Error(ErrorCode::kInvalidRequest, "'limit' must be an integer in 1..500"));
                 }
               }
               auto list = co_await sagas->List(ctx.principal, *status, limit);
               if (!list) co_return ErrorResponse(list.error());
               co_return JsonResponse(200, json::object{{"sagas", std::move(*list)}});
             });
}

}  // namespace coredb::http
