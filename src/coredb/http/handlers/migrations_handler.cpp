#include "coredb/http/handlers/migrations_handler.hpp"

#include "coredb/http/json_body.hpp"
#include "coredb/http/response.hpp"

#include <boost/json/array.hpp>

#include <limits>

namespace coredb::http {
namespace {

// POST bodies are optional here: no body at all means "the defaults".
Result<boost::json::object> OptionalJsonObject(const Request& request) {
  if (request.body().empty()) return boost::json::object{};
  return ParseJsonObject(request);
}

boost::json::value Current(const std::optional<int>& current) {
  if (current) return *current;
  return nullptr;
}

boost::json::array Versions(const migrations::MigrationRun& run) {
  boost::json::array out;
  for (const auto& step : run.steps) out.emplace_back(step.version);
  return out;
}

}  // namespace

Result<MigrateRequest> ParseMigrateRequest(const boost::json::object& body) {
  FieldReader in(body);
  in.AllowOnly({"target"});
  MigrateRequest r;
  if (auto target = in.Integer("target", 1, std::numeric_limits<int>::max())) r.target = static_cast<int>(*target);
  if (in.failed()) return in.error();
  return r;
}

Result<RollbackRequest> ParseRollbackRequest(const boost::json::object& body) {
  FieldReader in(body);
  in.AllowOnly({"steps"});
  RollbackRequest r;
  if (auto steps = in.Integer("steps", 1, kMaxRollbackSteps)) r.steps = static_cast<int>(*steps);
  if (in.failed()) return in.error();
  return r;
}

void RegisterMigrationRoutes(Router& router, migrations::Migrator& migrator) {
  router.Add(beast_http::verb::get, "/api/v1/migrations/status", Access::kAdmin,
             [&migrator](RequestContext&) -> boost::asio::awaitable<Response> {
               auto status = co_await migrator.Status();
               if (!status) co_return ErrorResponse(status.error());
               co_return JsonResponse(200, migrations::StatusToJson(*status));
             });
  router.Add(beast_http::verb::post, "/api/v1/migrations/run", Access::kAdmin,
             [&migrator](RequestContext& ctx) -> boost::asio::awaitable<Response> {
               auto body = OptionalJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto request = ParseMigrateRequest(*body);
               if (!request) co_return ErrorResponse(request.error());
               auto run = co_await migrator.Migrate(request->target);
               if (!run) co_return ErrorResponse(run.error());
               co_return JsonResponse(
                   200, boost::json::object{{"applied", Versions(*run)}, {"current", Current(run->current)}});
             });
  router.Add(beast_http::verb::post, "/api/v1/migrations/rollback", Access::kAdmin,
             [&migrator](RequestContext& ctx) -> boost::asio::awaitable<Response> {
               auto body = OptionalJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto request = ParseRollbackRequest(*body);
               if (!request) co_return ErrorResponse(request.error());
               auto run = co_await migrator.Rollback(request->steps);
               if (!run) co_return ErrorResponse(run.error());
               co_return JsonResponse(
                   200, boost::json::object{{"rolledBack", Versions(*run)}, {"current", Current(run->current)}});
             });
}

}  // namespace coredb::http
