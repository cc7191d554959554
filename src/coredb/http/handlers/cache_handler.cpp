#include "coredb/http/handlers/cache_handler.hpp"

#include "coredb/cache/cache_key.hpp"
#include "coredb/http/json_body.hpp"
#include "coredb/http/response.hpp"

namespace coredb::http {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;

// The key of the path, checked: 400 when malformed, 403 outside the client's cachePrefixes.
Result<std::string> KeyOf(const RequestContext& ctx) {
  std::string key(ctx.PathParam("key"));
  if (auto ok = cache::CheckKey(key); !ok) return ok.error();
  if (auto ok = cache::CheckKeyAccess(ctx.principal, key); !ok) return ok.error();
  return key;
}

}  // namespace

void RegisterCacheRoutes(Router& router, cache::CacheManager& cache) {
  cache::CacheManager* manager = &cache;

  router.Add(beast_http::verb::get, "/api/v1/cache/{key}", Access::kAuthenticated,
             [manager](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kRead, "reading the cache"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto key = KeyOf(ctx);
               if (!key) co_return ErrorResponse(key.error());
               auto entry = co_await manager->Get(*key);
               if (!entry) co_return ErrorResponse(entry.error());
               if (!*entry) co_return ErrorResponse(MakeError(ErrorCode::kNotFound, "no cache entry for this key"));
               co_return JsonResponse(
                   200,
                   json::object{{"key", *key}, {"value", std::move((*entry)->value)}, {"ttl", (*entry)->ttl_seconds}});
             });

  router.Add(beast_http::verb::put, "/api/v1/cache/{key}", Access::kAuthenticated,
             [manager](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kWrite, "writing the cache"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto key = KeyOf(ctx);
               if (!key) co_return ErrorResponse(key.error());
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               FieldReader in(*body);
               in.AllowOnly({"value", "ttl"});
               if (!in.failed() && !in.Has("value")) in.Fail("missing required member 'value' (any JSON value)");
               const auto ttl = in.Integer("ttl", 1, cache::kMaxTtl.count()).value_or(kDefaultCacheTtlSeconds);
               if (in.failed()) co_return ErrorResponse(in.error());
               auto stored = co_await manager->Set(*key, body->at("value"), std::chrono::seconds(ttl));
               if (!stored) co_return ErrorResponse(stored.error());
               co_return JsonResponse(200, json::object{{"key", *key}, {"ttl", ttl}});
             });

  router.Add(beast_http::verb::delete_, "/api/v1/cache/{key}", Access::kAuthenticated,
             [manager](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kWrite, "deleting from the cache"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto key = KeyOf(ctx);
               if (!key) co_return ErrorResponse(key.error());
               auto deleted = co_await manager->Delete(*key);
               if (!deleted) co_return ErrorResponse(deleted.error());
               if (!*deleted) co_return ErrorResponse(MakeError(ErrorCode::kNotFound, "no cache entry for this key"));
               co_return JsonResponse(200, json::object{{"deleted", true}});
             });

  router.Add(beast_http::verb::post, "/api/v1/cache/invalidate", Access::kAuthenticated,
             [manager](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kWrite, "invalidating the cache"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               FieldReader in(*body);
               in.AllowOnly({"pattern"});
               auto pattern = in.String("pattern", FieldReader::Required::kYes);
               if (in.failed()) co_return ErrorResponse(in.error());
               if (auto ok = cache::CheckPattern(*pattern); !ok) co_return ErrorResponse(ok.error());
               if (auto ok = cache::CheckPatternAccess(ctx.principal, *pattern); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto deleted = co_await manager->InvalidatePattern(std::string(*pattern));
               if (!deleted) co_return ErrorResponse(deleted.error());
               co_return JsonResponse(200, json::object{{"deleted", *deleted}});
             });

  // "/api/v1/cache/" (no key): a specific 400 rather than a 404 for an unknown route.
  for (auto method : {beast_http::verb::get, beast_http::verb::put, beast_http::verb::delete_}) {
    router.Add(method, "/api/v1/cache", Access::kAuthenticated, [](RequestContext&) -> awaitable<Response> {
      co_return ErrorResponse(
          MakeError(ErrorCode::kInvalidRequest, "cache key must not be empty (/api/v1/cache/{key})"));
    });
  }
}

}  // namespace coredb::http
