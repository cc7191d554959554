#include "coredb/http/handlers/platform_handler.hpp"

#include "coredb/core/percent_decode.hpp"
#include "coredb/http/json_body.hpp"
#include "coredb/http/response.hpp"

#include <algorithm>
#include <charconv>

namespace coredb::http {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;

std::optional<std::string> OptionalString(FieldReader& in, std::string_view name) {
  auto v = in.String(name);
  if (!v) return std::nullopt;
  return std::string(*v);
}

std::string RequiredString(FieldReader& in, std::string_view name) {
  auto v = in.String(name, FieldReader::Required::kYes);
  return v ? std::string(*v) : std::string();
}

// X-Cache tells a caller (and the tests) whether a cached read came from Redis.
Response CachedJson(const json::value& body, bool hit) {
  Response response = JsonResponse(200, body);
  response.headers.emplace_back("X-Cache", hit ? "HIT" : "MISS");
  return response;
}

}  // namespace

Result<platform::NewUser> ParseNewUser(const json::object& body) {
  FieldReader in(body);
  in.AllowOnly({"email", "hashedPassword", "oauthProvider", "oauthId"});
  platform::NewUser user;
  user.email = RequiredString(in, "email");
  user.hashed_password = OptionalString(in, "hashedPassword");
  user.oauth_provider = OptionalString(in, "oauthProvider");
  user.oauth_id = OptionalString(in, "oauthId");
  if (in.failed()) return in.error();
  return user;
}

Result<platform::NewApiKey> ParseNewApiKey(const json::object& body) {
  FieldReader in(body);
  in.AllowOnly({"userId", "keyHash", "keyPrefix", "name", "quotaRequestsPerMinute", "quotaRequestsPerDay"});
  platform::NewApiKey key;
  key.user_id = RequiredString(in, "userId");
  key.key_hash = RequiredString(in, "keyHash");
  key.key_prefix = RequiredString(in, "keyPrefix");
  key.name = RequiredString(in, "name");
  key.quota_requests_per_minute = in.Integer("quotaRequestsPerMinute", 1, platform::kMaxInt4);
  key.quota_requests_per_day = in.Integer("quotaRequestsPerDay", 1, platform::kMaxInt4);
  if (in.failed()) return in.error();
  return key;
}

Result<platform::NewLibrary> ParseNewLibrary(const json::object& body) {
  FieldReader in(body);
  in.AllowOnly({"id", "name", "vendor", "repoUrl", "docsUrl", "defaultVersion", "popularityScore", "metadata"});
  platform::NewLibrary library;
  library.id = RequiredString(in, "id");
  library.name = RequiredString(in, "name");
  library.vendor = OptionalString(in, "vendor");
  library.repo_url = OptionalString(in, "repoUrl");
  library.docs_url = OptionalString(in, "docsUrl");
  library.default_version = OptionalString(in, "defaultVersion");
  library.popularity_score = in.Integer("popularityScore", 0, platform::kMaxInt4);
  if (in.failed()) return in.error();
  if (const auto* metadata = body.if_contains("metadata")) library.metadata = *metadata;
  return library;
}

Result<platform::NewUsageLog> ParseNewUsageLog(const json::object& body) {
  FieldReader in(body);
  in.AllowOnly({"userId", "apiKeyId", "toolName", "libraryId", "query", "tokensReturned", "responseTimeMs"});
  platform::NewUsageLog log;
  log.user_id = OptionalString(in, "userId");
  log.api_key_id = OptionalString(in, "apiKeyId");
  log.tool_name = RequiredString(in, "toolName");
  log.library_id = OptionalString(in, "libraryId");
  log.query = OptionalString(in, "query");
  log.tokens_returned = in.Integer("tokensReturned", 0, platform::kMaxInt4);
  log.response_time_ms = in.Integer("responseTimeMs", 0, platform::kMaxInt4);
  if (in.failed()) return in.error();
  if (auto ok = platform::CheckUsageLog(log); !ok) return ok.error();
  return log;
}

Result<platform::LibrarySearch> ParseLibrarySearch(std::string_view query_string) {
  platform::LibrarySearch search;
  bool have_q = false, have_limit = false;
  while (!query_string.empty()) {
    const auto amp = query_string.find('&');
    const std::string_view pair = query_string.substr(0, amp);
    query_string = amp == std::string_view::npos ? std::string_view() : query_string.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto name = PercentDecode(pair.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!name || !value) return MakeError(ErrorCode::kInvalidRequest, "malformed percent-escape in the query string");
    if (*name == "q") {
      if (have_q) return MakeError(ErrorCode::kInvalidRequest, "query parameter 'q' given more than once");
      have_q = true;
      search.query = std::move(*value);
    } else if (*name == "limit") {
      if (have_limit) return MakeError(ErrorCode::kInvalidRequest, "query parameter 'limit' given more than once");
      have_limit = true;
      int limit = 0;
      const char* end = value->data() + value->size();
      auto [ptr, ec] = std::from_chars(value->data(), end, limit);
      const bool digits =
          !value->empty() && std::all_of(value->begin(), value->end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits || ec != std::errc() || ptr != end || limit < 1 || limit > platform::kMaxSearchLimit) {
        return MakeError(ErrorCode::kInvalidRequest, "'limit' must be an integer in 1.." +
                                                         std::to_string(platform::kMaxSearchLimit) + " (got \"" +
                                                         *value + "\")");
      }
      search.limit = limit;
    } else {
      return MakeError(ErrorCode::kInvalidRequest, "unknown query parameter '" + *name + "' (expected q, limit)");
    }
  }
  if (!have_q) return MakeError(ErrorCode::kInvalidRequest, "missing required query parameter 'q'");
  return search;
}

void RegisterPlatformRoutes(Router& router, platform::PlatformService& platform) {
  platform::PlatformService* service = &platform;

  router.Add(beast_http::verb::post, "/api/v1/users", Access::kAuthenticated,
             [service](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kWrite, "creating a user"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto user = ParseNewUser(*body);
               if (!user) co_return ErrorResponse(user.error());
               auto created = co_await service->CreateUser(*user);
               if (!created) co_return ErrorResponse(created.error());
               co_return JsonResponse(201, *created);
             });

  router.Add(beast_http::verb::get, "/api/v1/users/by-email/{email}", Access::kAuthenticated,
             [service](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kRead, "reading a user"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               bool hit = false;
               auto user = co_await service->GetUserByEmail(std::string(ctx.PathParam("email")), &hit);
               if (!user) co_return ErrorResponse(user.error());
               co_return CachedJson(*user, hit);
             });

  router.Add(beast_http::verb::post, "/api/v1/api-keys", Access::kAuthenticated,
             [service](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kWrite, "creating an api key"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto key = ParseNewApiKey(*body);
               if (!key) co_return ErrorResponse(key.error());
               auto created = co_await service->CreateApiKey(*key);
               if (!created) co_return ErrorResponse(created.error());
               co_return JsonResponse(201, *created);
             });

  router.Add(beast_http::verb::get, "/api/v1/api-keys/by-hash/{hash}", Access::kAuthenticated,
             [service](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kRead, "reading an api key"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto key = co_await service->GetApiKeyByHash(std::string(ctx.PathParam("hash")));
               if (!key) co_return ErrorResponse(key.error());
               co_return JsonResponse(200, *key);
             });

  router.Add(beast_http::verb::post, "/api/v1/libraries", Access::kAuthenticated,
             [service](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kWrite, "creating a library"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto library = ParseNewLibrary(*body);
               if (!library) co_return ErrorResponse(library.error());
               auto created = co_await service->CreateLibrary(*library);
               if (!created) co_return ErrorResponse(created.error());
               co_return JsonResponse(201, *created);
             });

  router.Add(beast_http::verb::get, "/api/v1/libraries/search", Access::kAuthenticated,
             [service](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kRead, "searching libraries"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto search = ParseLibrarySearch(ctx.query);
               if (!search) co_return ErrorResponse(search.error());
               bool hit = false;
               auto found = co_await service->SearchLibraries(std::move(*search), &hit);
               if (!found) co_return ErrorResponse(found.error());
               co_return CachedJson(*found, hit);
             });

  router.Add(beast_http::verb::post, "/api/v1/usage-logs", Access::kAuthenticated,
             [service](RequestContext& ctx) -> awaitable<Response> {
               if (auto ok = RequireScope(ctx.principal, Scope::kWrite, "logging usage"); !ok) {
                 co_return ErrorResponse(ok.error());
               }
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto log = ParseNewUsageLog(*body);
               if (!log) co_return ErrorResponse(log.error());
               auto stored = co_await service->LogUsage(*log);
               // Never the caller's failure (story: logUsage does not throw): 202 either way.
               if (!stored) co_return JsonResponse(202, json::object{{"logged", false}});
               co_return JsonResponse(202, *stored);
             });
}

}  // namespace coredb::http
